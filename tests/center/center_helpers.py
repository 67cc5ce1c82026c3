"""Helpers shared by the contact-center tests (a unique module name: no clash across folders)."""

from __future__ import annotations

from dipflow.center import (
    AgentConfig,
    AgentState,
    CenterConfig,
    CenterSnapshot,
    ContactAssigned,
    ContactEnded,
    ContactLeftQueue,
    ContactMovedQueue,
    ContactOffered,
    ContactQueued,
    Notification,
    OfferRescinded,
    QueueConfig,
)
from dipflow.center.config import SkillDefinition
from dipflow.center.skills import (
    RelaxationStep,
    SkillRequirement,
    SkillType,
    matches,
    requirement_problem,
)


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def sample_config(**overrides: object) -> CenterConfig:
    base: dict[str, object] = {
        "queues": [
            QueueConfig(
                name="sales",
                teams=["blue"],
                max_wait_s=60,
                fallback_queue="overflow",
                ring_timeout_s=15,
            ),
            QueueConfig(name="overflow", teams=["green"], ring_timeout_s=10),
            QueueConfig(name="support", teams=["green", "blue"], max_wait_s=30),
        ],
        "agents": [
            AgentConfig(agent_id="alice", name="Alice", teams=["blue"], skill_profile="senior"),
            AgentConfig(
                agent_id="bob",
                name="Bob",
                teams=["blue", "green"],
                skills={"tech": 3, "language": "es", "vip": True},
            ),
            AgentConfig(agent_id="carol", name="Carol", teams=["green"]),
        ],
        "wrap_up_s": 10,
        "skills": [
            SkillDefinition(name="tech", type=SkillType.PROFICIENCY),
            SkillDefinition(name="language", type=SkillType.ENUM, values=["en", "es", "de"]),
            SkillDefinition(name="vip", type=SkillType.BOOLEAN),
            SkillDefinition(name="region", type=SkillType.TEXT),
        ],
        "skill_profiles": {"senior": {"tech": 8, "language": "en", "region": "EMEA"}},
    }
    base.update(overrides)
    return CenterConfig.model_validate(base)


class Recorder:
    def __init__(self) -> None:
        self.notes: list[Notification] = []

    def __call__(self, note: Notification) -> None:
        self.notes.append(note)

    def of(self, kind: type) -> list[Notification]:
        return [n for n in self.notes if isinstance(n, kind)]

    def clear(self) -> None:
        self.notes.clear()


class OfferLedger:
    """Replays notifications (in order, from one node) and fails on any double assignment."""

    def __init__(self) -> None:
        self.offers: dict[str, str] = {}  # call -> agent while ringing
        self.calls: dict[str, str] = {}  # call -> agent while connected
        self.busy: dict[str, str] = {}  # agent -> call (offered or connected)
        self.assigned_count: dict[str, int] = {}

    def __call__(self, note: Notification) -> None:
        if isinstance(note, ContactOffered):
            assert note.call_id not in self.offers, f"{note.call_id} offered twice"
            assert note.call_id not in self.calls, f"{note.call_id} offered while connected"
            assert note.agent_id not in self.busy, (
                f"{note.agent_id} holds {self.busy.get(note.agent_id)}"
            )
            self.offers[note.call_id] = note.agent_id
            self.busy[note.agent_id] = note.call_id
        elif isinstance(note, OfferRescinded):
            assert self.offers.pop(note.call_id) == note.agent_id
            assert self.busy.pop(note.agent_id) == note.call_id
        elif isinstance(note, ContactAssigned):
            assert self.offers.pop(note.call_id) == note.agent_id
            self.calls[note.call_id] = note.agent_id
            self.assigned_count[note.call_id] = self.assigned_count.get(note.call_id, 0) + 1
        elif isinstance(note, ContactEnded):
            assert self.calls.pop(note.call_id) == note.agent_id
            assert self.busy.pop(note.agent_id) == note.call_id
        elif isinstance(note, ContactLeftQueue | ContactMovedQueue | ContactQueued):
            assert note.call_id not in self.offers and note.call_id not in self.calls


def requirement(skill: str, condition: str, value: object) -> SkillRequirement:
    """A requirement in normal form against the sample configuration's skills."""
    normal, problem = requirement_problem(
        skill, condition, value, sample_config().skill_definitions()
    )
    assert normal is not None, problem
    return normal


def check_snapshot(snap: CenterSnapshot, config: CenterConfig | None = None) -> None:
    """Invariants visible in one atomic snapshot, whatever the store."""
    config = config or sample_config()
    types = config.skill_types()
    skills = {a.agent_id: config.agent_skills(a) for a in config.agents}
    serving: dict[str, list[str]] = {q.name: [] for q in config.queues}
    for agent in snap.agents:
        if agent.state is AgentState.AVAILABLE:
            for queue in config.queues_for_teams(agent.teams):
                serving[queue].append(agent.agent_id)
    held: dict[str, str] = {}
    for agent in snap.agents:
        if agent.state in (AgentState.OFFERED, AgentState.CONNECTED):
            assert agent.call_id is not None, agent
            assert agent.call_id not in held, (
                f"{agent.call_id} held by {held[agent.call_id]} and {agent.agent_id}"
            )
            held[agent.call_id] = agent.agent_id
        else:
            assert agent.call_id is None, agent
        if agent.state is AgentState.IDLE:
            assert agent.reason, agent
        if agent.state is AgentState.LOGGED_OUT:
            assert agent.teams == () and agent.parked == ()
        if agent.state is AgentState.AVAILABLE:  # nobody waits for an available agent
            assert agent.parked == (), agent
    waiting: set[str] = {call for agent in snap.agents for call in agent.parked}
    assert len(waiting) == sum(len(agent.parked) for agent in snap.agents)
    assert not waiting.intersection(held)
    offered = sum(1 for a in snap.agents if a.state is AgentState.OFFERED)
    for queue in snap.queues:
        ids = [w.call_id for w in queue.waiting]
        assert [w.position for w in queue.waiting] == list(range(1, len(ids) + 1))
        assert not waiting.intersection(ids) and not set(held).intersection(ids)
        waiting.update(ids)
        assert queue.agents_available == len(serving[queue.name]), queue
        for waiting_contact in queue.waiting:
            # saturated routing: no available agent of the queue meets its requirements
            for agent_id in serving[queue.name]:
                assert not matches(skills[agent_id], waiting_contact.requirements, types), (
                    f"{waiting_contact.call_id} waits while {agent_id} is available"
                )
    assert sum(q.offered for q in snap.queues) == offered


def skill_choices() -> list[tuple[tuple[SkillRequirement, ...], tuple[RelaxationStep, ...]]]:
    """Requirement sets and relaxations the randomised tests draw from: none, one only some
    agents meet, one nobody meets until relaxed (twice), several at once, one met by an
    agent who lacks the skill (zero values)."""
    return [
        ((), ()),
        ((), ()),
        ((requirement("tech", ">=", 5),), ()),
        ((requirement("language", "is", "es"),), (RelaxationStep(after_s=10.0),)),
        (
            (requirement("tech", ">=", 9),),
            (
                RelaxationStep(after_s=3.0, requirements=(requirement("tech", "gte", 3),)),
                RelaxationStep(after_s=31.0),
            ),
        ),
        ((requirement("vip", "!=", "true"), requirement("region", "==", "EMEA")), ()),
        ((requirement("tech", "<", 3),), ()),
    ]
