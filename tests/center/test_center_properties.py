"""Randomised interleavings (hypothesis state machine) on the sans-IO core.

Every step is one of the things that happen in a real contact center: arrivals,
hang-ups, agent state changes, accepts racing with ring timeouts (time advancing),
declines, logouts. After every step the invariants must hold: no caller offered to
two agents, no agent with two offers or calls, routing saturated, and an operation
refused with an error changed nothing.
"""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from dipflow.center import AgentConfig, CenterError, ContactOffered, Notification
from dipflow.center.core import CenterCore
from dipflow.center.skills import matches
from tests.center.center_helpers import (
    OfferLedger,
    check_snapshot,
    sample_config,
    skill_choices,
)

CALLS = [f"c{i}" for i in range(8)]
AGENTS = ["alice", "bob", "carol"]
QUEUES = ["sales", "overflow", "support"]
REASONS = ["break", "lunch", "meeting"]
SKILLS = skill_choices()


class CenterMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.config = sample_config(wrap_up_s=3)
        self.core = CenterCore(self.config)
        self.now = 0.0
        self.ledger = OfferLedger()

    def _apply(self, notes: list[Notification]) -> None:
        for note in notes:
            self.ledger(note)
            if isinstance(note, ContactOffered):
                # skills: an offer only goes to an agent who meets the contact's requirements
                # (white-box: the core's own record of what the contact waits for now)
                contact = self.core._contacts[note.call_id]
                assert contact.target in (None, note.agent_id)  # a named agent's, only to them
                if contact.target is not None:
                    event("an offer to a named agent")
                skills = self.config.agent_skills(_require(self.config.agent(note.agent_id)))
                assert matches(skills, contact.requirements, self.config.skill_types())
                if contact.requirements:
                    event("an offer that needed skills")
                if contact.step:
                    event("an offer after relaxation")

    def _guarded(self, action: object, *args: object, **kwargs: object) -> None:
        """Run an operation; if it raises, the state must be exactly as before."""
        before = self.core.snapshot(self.now)
        try:
            notes = action(*args, now=self.now, **kwargs)  # type: ignore[operator]
        except CenterError:
            assert self.core.snapshot(self.now) == before
            return
        self._apply(notes)

    @rule(
        call=st.sampled_from(CALLS),
        queue=st.sampled_from(QUEUES),
        priority=st.integers(-2, 2),
        skills=st.sampled_from(SKILLS),
    )
    def enqueue(self, call: str, queue: str, priority: int, skills: tuple[object, ...]) -> None:
        requirements, relaxation = skills
        self._guarded(
            self.core.enqueue,
            call,
            queue,
            priority=priority,
            skills=requirements,
            relaxation=relaxation,
        )

    @rule(
        call=st.sampled_from(CALLS),
        queue=st.sampled_from(QUEUES),
        agent=st.sampled_from(AGENTS),
        park=st.booleans(),
        priority=st.integers(-2, 2),
    )
    def enqueue_for_one_agent(
        self, call: str, queue: str, agent: str, park: bool, priority: int
    ) -> None:
        self._guarded(self.core.enqueue, call, queue, priority=priority, agent=agent, park=park)

    @rule(call=st.sampled_from(CALLS))
    def abandon(self, call: str) -> None:
        self._guarded(self.core.abandon, call)

    @rule(agent=st.sampled_from(AGENTS), teams=st.sampled_from([None, ["blue"], ["green"]]))
    def login(self, agent: str, teams: list[str] | None) -> None:
        self._guarded(self.core.login, agent, teams=teams)

    @rule(agent=st.sampled_from(AGENTS))
    def agent_gets_ready(self, agent: str) -> None:
        """Login + available in one step, so that offers happen often."""
        self._guarded(self.core.login, agent)
        self._guarded(self.core.set_available, agent)

    @rule(agent=st.sampled_from(AGENTS))
    def logout(self, agent: str) -> None:
        self._guarded(self.core.logout, agent)

    @rule(agent=st.sampled_from(AGENTS))
    def set_available(self, agent: str) -> None:
        self._guarded(self.core.set_available, agent)

    @rule(agent=st.sampled_from(AGENTS), reason=st.sampled_from(REASONS))
    def set_idle(self, agent: str, reason: str) -> None:
        self._guarded(self.core.set_idle, agent, reason)

    @rule(agent=st.sampled_from(AGENTS), call=st.sampled_from(CALLS))
    def accept(self, agent: str, call: str) -> None:
        held = self.ledger.offers.get(call) == agent
        ok, notes = self.core.accept(agent, call, now=self.now)
        assert ok is held  # exactly-once: True iff this agent holds this very offer
        self._apply(notes)
        if ok:
            event("an offer was accepted")

    @rule(data=st.data())
    def accept_a_ringing_offer(self, data: st.DataObject) -> None:
        if self.ledger.offers:
            call = data.draw(st.sampled_from(sorted(self.ledger.offers)))
            self.accept(self.ledger.offers[call], call)

    @rule(agent=st.sampled_from(AGENTS), call=st.sampled_from(CALLS))
    def decline(self, agent: str, call: str) -> None:
        self._guarded(self.core.decline, agent, call)

    @rule(call=st.sampled_from(CALLS))
    def end_contact(self, call: str) -> None:
        self._guarded(self.core.end_contact, call)

    @rule(agent=st.sampled_from(AGENTS))
    def end_wrap_up(self, agent: str) -> None:
        self._guarded(self.core.end_wrap_up, agent)

    @rule(seconds=st.sampled_from([0.5, 2.0, 3.0, 10.0, 15.0, 31.0, 61.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        notes = self.core.handle_timers(self.now)
        for note in notes:
            event(f"timer: {type(note).__name__}")
        self._apply(notes)
        later = self.core.next_deadline()
        # Nothing due is left behind. (The deadline before this tick may be earlier than
        # the previous tick: a caller whose offer failed after its maximum wait had passed
        # is overdue at once; see test_max_wait_counts_the_time_spent_ringing.)
        assert later is None or later > self.now

    @invariant()
    def consistent(self) -> None:
        snap = self.core.snapshot(self.now)
        check_snapshot(snap)
        held = {a.call_id: a.agent_id for a in snap.agents if a.call_id}
        assert held == {**self.ledger.offers, **self.ledger.calls}


CenterMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCenterInterleavings = pytest.mark.slow(CenterMachine.TestCase)


def _require(agent: AgentConfig | None) -> AgentConfig:
    assert agent is not None
    return agent
