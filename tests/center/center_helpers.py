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
            QueueConfig(name="overflow", teams=["green"], ring_timeout_s=10, max_wait_s=None),
            QueueConfig(name="support", teams=["green", "blue"], max_wait_s=30),
        ],
        "agents": [
            AgentConfig(agent_id="alice", name="Alice", teams=["blue"]),
            AgentConfig(agent_id="bob", name="Bob", teams=["blue", "green"]),
            AgentConfig(agent_id="carol", name="Carol", teams=["green"]),
        ],
        "wrap_up_s": 10,
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
            offered_to = self.offers.pop(note.call_id, None)
            if offered_to is None:  # put back by restore_connected: no offer came first
                assert note.agent_id not in self.busy, f"{note.agent_id} restored while busy"
                assert note.call_id not in self.calls, f"{note.call_id} restored twice"
                self.busy[note.agent_id] = note.call_id
            else:
                assert offered_to == note.agent_id
            self.calls[note.call_id] = note.agent_id
            self.assigned_count[note.call_id] = self.assigned_count.get(note.call_id, 0) + 1
        elif isinstance(note, ContactEnded):
            assert self.calls.pop(note.call_id) == note.agent_id
            assert self.busy.pop(note.agent_id) == note.call_id
        elif isinstance(note, ContactLeftQueue | ContactMovedQueue | ContactQueued):
            assert note.call_id not in self.offers and note.call_id not in self.calls


def check_snapshot(snap: CenterSnapshot) -> None:
    """Invariants visible in one atomic snapshot, whatever the store."""
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
            assert agent.teams == ()
    waiting: set[str] = set()
    offered = sum(1 for a in snap.agents if a.state is AgentState.OFFERED)
    for queue in snap.queues:
        ids = [w.call_id for w in queue.waiting]
        assert [w.position for w in queue.waiting] == list(range(1, len(ids) + 1))
        assert not waiting.intersection(ids) and not set(held).intersection(ids)
        waiting.update(ids)
        if ids:  # saturated routing: nobody who serves this queue is available
            assert queue.agents_available == 0, queue
    assert sum(q.offered for q in snap.queues) == offered
