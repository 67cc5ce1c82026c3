"""The contact-center state machine, sans-IO. Layer 3 (center).

Every method takes `now` and returns notifications.

No clock, no sockets, no awaits: `CenterCore` is a plain object that the memory store
wraps, that property tests drive step by step, and whose timers a host fires through
`next_deadline()` / `handle_timers(now)` (the h11/aioquic pattern).

Invariants (checked by tests/center/test_center_properties.py after every step):

* a contact is in exactly one of: waiting in one queue, offered to one agent, connected
  to one agent; an agent is offered/connected to at most one contact, and an agent is
  `offered` exactly when one contact is offered to it (exactly-once assignment);
* the routing is saturated: no queue has both a waiting contact and an available agent
  who serves it. Each method restores this before it returns, which is why routing only
  ever looks at the head of a queue and the longest-available agent.

Data structures, chosen so that no event costs more than O(log n) plus the bounded
position updates: per queue, a sorted list of waiting `(score, call_id)` (`waiting`:
bisect, and the list shifts are memmove-fast) and a sorted list of available
`(since, agent_id)`; timers in a heap with lazy cancellation (`timers`). What the core
reports (queue status, snapshot) is built by `reporting`, shared with the Redis store.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Mapping, Sequence
from typing import assert_never

from dipflow.center import reporting
from dipflow.center.config import CenterConfig
from dipflow.center.errors import (
    AgentUnavailable,
    ContactExists,
    InvalidTransition,
)
from dipflow.center.estimator import estimate_wait_s, update_aht
from dipflow.center.model import (
    IDLE_REASON_LOGIN,
    IDLE_REASON_RONA,
    AgentSnapshot,
    AgentState,
    AgentStateChanged,
    CenterSnapshot,
    ContactAssigned,
    ContactEnded,
    ContactLeftQueue,
    ContactMovedQueue,
    ContactOffered,
    ContactQueued,
    ContactState,
    LeaveReason,
    Notification,
    OfferRescinded,
    QueuePositionChanged,
    QueueStatistics,
    QueueStatus,
    RescindReason,
)
from dipflow.center.records import AgentRecord, ContactRecord
from dipflow.center.skills import RelaxationStep, SkillRequirement, matches
from dipflow.center.timers import TimerKind, Timers
from dipflow.center.transitions import AgentAction, next_state
from dipflow.center.validation import Validator
from dipflow.center.waiting import SEQ_SPAN, WaitingLists, order_score


class CenterCore:
    """All queues, agents, contacts and timers of one contact center, in memory."""

    def __init__(self, config: CenterConfig) -> None:
        self.config = config
        self._queues = {q.name: q for q in config.queues}
        self._waiting = WaitingLists(self._queues)
        self._personal = WaitingLists(a.agent_id for a in config.agents)
        """Contacts for one named agent, per agent, in offer order."""
        self._available: dict[str, list[tuple[float, str]]] = {q: [] for q in self._queues}
        self._staffed: dict[str, set[str]] = {q: set() for q in self._queues}
        self._aht: dict[str, float] = {q: config.default_handle_time_s for q in self._queues}
        self._contacts: dict[str, ContactRecord] = {}
        self._agents = {
            a.agent_id: AgentRecord(
                a.agent_id, a.name, skills=config.agent_skills(a), email=a.email
            )
            for a in config.agents
        }
        self._types = config.skill_types()
        self._timers = Timers()
        self._seq = 0
        self._validator = Validator(config)

    # ----------------------------------------------------------------- contacts

    def enqueue(
        self,
        call_id: str,
        queue: str,
        *,
        priority: int = 0,
        max_wait_s: float | None = None,
        fallback_queue: str | None = None,
        data: Mapping[str, str] | None = None,
        skills: Sequence[SkillRequirement] = (),
        relaxation: Sequence[RelaxationStep] = (),
        agent: str | None = None,
        park: bool = False,
        now: float,
    ) -> list[Notification]:
        max_wait_s, fallback_queue = self._validator.enqueue(
            call_id, queue, priority, max_wait_s, fallback_queue
        )
        self._validator.skills(skills, relaxation)
        if agent is not None:
            self._validator.named_agent(agent, skills, relaxation)
            # A contact for one agent never overflows to anyone else: it waits for that
            # agent (parked) or the flow takes its recovery queue.
            max_wait_s, fallback_queue = None, None
        if call_id in self._contacts:
            raise ContactExists(call_id)
        if agent is not None:
            state = self._agents[agent].state
            if state is AgentState.LOGGED_OUT or (state is not AgentState.AVAILABLE and not park):
                raise AgentUnavailable(agent, state.value)
        self._seq += 1
        contact = ContactRecord(
            call_id=call_id,
            queue=queue,
            priority=priority,
            score=order_score(priority, self._seq),
            entered_at=now,
            queued_at=now,
            max_wait_s=max_wait_s,
            fallback_queue=fallback_queue,
            data={str(k): str(v) for k, v in (data or {}).items()},
            visited=[queue],
            requirements=tuple(skills),
            relaxation=tuple(relaxation),
            target=agent,
        )
        self._contacts[call_id] = contact
        if contact.relaxation:
            self._timers.set(TimerKind.RELAX, call_id, now + contact.relaxation[0].after_s)
        out: list[Notification] = []
        index = self._insert_waiting(contact, now)
        out.append(
            ContactQueued(
                call_id=call_id,
                queue=queue,
                position=index + 1,
                estimated_wait_s=self._line_ewt(contact, index + 1),
            )
        )
        self._positions_from(contact, index + 1, out)
        self._dispatch_contact(contact, now, out)
        return out

    def abandon(self, call_id: str, *, now: float) -> list[Notification]:
        """Idempotent: hang-ups race with everything, so an unknown call is not an error."""
        contact = self._contacts.get(call_id)
        out: list[Notification] = []
        if contact is None:
            return out
        if contact.state is ContactState.CONNECTED:
            return self.end_contact(call_id, now=now)
        if contact.state is ContactState.QUEUED:
            self._remove_waiting(contact, out)
            self._timers.cancel(TimerKind.RELAX, call_id)
            del self._contacts[call_id]
            out.append(
                ContactLeftQueue(call_id=call_id, queue=contact.queue, reason=LeaveReason.ABANDONED)
            )
            return out
        agent = self._agents[_require(contact.agent_id)]
        self._timers.cancel(TimerKind.RING, call_id)
        self._timers.cancel(TimerKind.RELAX, call_id)
        del self._contacts[call_id]
        agent.call_id = None
        out.append(
            OfferRescinded(
                call_id=call_id, agent_id=agent.agent_id, reason=RescindReason.CALLER_HUNG_UP
            )
        )
        out.append(
            ContactLeftQueue(call_id=call_id, queue=contact.queue, reason=LeaveReason.ABANDONED)
        )
        self._transition(agent, AgentAction.OFFER_WITHDRAWN, None, now, out)
        self._dispatch_agent(agent, now, out)
        return out

    def accept(self, agent_id: str, call_id: str, *, now: float) -> tuple[bool, list[Notification]]:
        agent = self._agent(agent_id)
        contact = self._contacts.get(call_id)
        out: list[Notification] = []
        if (
            contact is None
            or contact.state is not ContactState.OFFERED
            or contact.agent_id != agent_id
            or agent.call_id != call_id
        ):
            return False, out
        self._timers.cancel(TimerKind.RING, call_id)
        self._timers.cancel(TimerKind.RELAX, call_id)
        contact.state = ContactState.CONNECTED
        contact.connected_at = now
        out.append(ContactAssigned(call_id=call_id, agent_id=agent_id))
        self._transition(agent, AgentAction.ACCEPT, None, now, out)
        return True, out

    def decline(self, agent_id: str, call_id: str, *, now: float) -> list[Notification]:
        agent = self._agent(agent_id)
        contact = self._contacts.get(call_id)
        out: list[Notification] = []
        if contact is None or contact.state is not ContactState.OFFERED:
            return out
        if contact.agent_id != agent_id or agent.call_id != call_id:
            return out
        self._ring_no_answer(contact, agent, RescindReason.DECLINED, now, out)
        return out

    def end_contact(self, call_id: str, *, now: float) -> list[Notification]:
        contact = self._contacts.get(call_id)
        if contact is None:
            return []
        if contact.state is not ContactState.CONNECTED:
            return self.abandon(call_id, now=now)
        out: list[Notification] = []
        agent = self._agents[_require(contact.agent_id)]
        handle_s = max(0.0, now - contact.connected_at) + self.config.wrap_up_s
        self._aht[contact.queue] = update_aht(
            self._aht[contact.queue], handle_s, self.config.handle_time_weight
        )
        del self._contacts[call_id]
        agent.call_id = None
        out.append(ContactEnded(call_id=call_id, agent_id=agent.agent_id))
        self._transition(agent, AgentAction.CALL_ENDED, None, now, out)
        self._timers.set(TimerKind.WRAP, agent.agent_id, now + self.config.wrap_up_s)
        return out

    # ------------------------------------------------------------------- agents

    def login(
        self, agent_id: str, *, teams: Sequence[str] | None = None, now: float
    ) -> list[Notification]:
        agent = self._agent(agent_id)
        chosen, queues = self._validator.login(agent_id, teams)
        out: list[Notification] = []
        if not self._transition(agent, AgentAction.LOGIN, IDLE_REASON_LOGIN, now, out):
            return out
        agent.teams = tuple(chosen)
        agent.queues = tuple(queues)
        for queue in agent.queues:
            self._staffed[queue].add(agent_id)
        return out

    def logout(self, agent_id: str, *, now: float) -> list[Notification]:
        agent = self._agent(agent_id)
        out: list[Notification] = []
        offered = None
        if agent.state is AgentState.OFFERED and agent.call_id is not None:
            offered = self._contacts.get(agent.call_id)
        if not self._transition(agent, AgentAction.LOGOUT, None, now, out):
            return out
        self._timers.cancel(TimerKind.WRAP, agent_id)
        for queue in agent.queues:
            self._staffed[queue].discard(agent_id)
        agent.teams = ()
        agent.queues = ()
        if offered is not None:
            self._timers.cancel(TimerKind.RING, offered.call_id)
            agent.call_id = None
            out.insert(
                0,
                OfferRescinded(
                    call_id=offered.call_id,
                    agent_id=agent_id,
                    reason=RescindReason.AGENT_LOGGED_OUT,
                ),
            )
            if offered.target is not None:
                self._leave(offered, LeaveReason.AGENT_UNAVAILABLE, out)
            else:
                self._requeue(offered, now, out)
        # Contacts waiting for this agent alone cannot be served any more: the flows
        # take their recovery queues.
        for call_id in list(self._personal.calls(agent_id)):
            parked = self._contacts[call_id]
            self._remove_waiting(parked, out)
            self._leave(parked, LeaveReason.AGENT_UNAVAILABLE, out)
        return out

    def set_available(self, agent_id: str, *, now: float) -> list[Notification]:
        agent = self._agent(agent_id)
        out: list[Notification] = []
        if self._transition(agent, AgentAction.SET_AVAILABLE, None, now, out):
            self._timers.cancel(TimerKind.WRAP, agent_id)
            self._dispatch_agent(agent, now, out)
        return out

    def set_idle(self, agent_id: str, reason: str, *, now: float) -> list[Notification]:
        agent = self._agent(agent_id)
        self._validator.idle_reason(reason)
        out: list[Notification] = []
        if agent.state is AgentState.IDLE and agent.reason == reason:
            return out
        if self._transition(agent, AgentAction.SET_IDLE, reason, now, out):
            self._timers.cancel(TimerKind.WRAP, agent_id)
        return out

    def end_wrap_up(self, agent_id: str, *, now: float) -> list[Notification]:
        """Idempotent: the wrap-up timer and the agent's click may race."""
        agent = self._agent(agent_id)
        out: list[Notification] = []
        if agent.state is not AgentState.WRAP_UP:
            return out
        self._timers.cancel(TimerKind.WRAP, agent_id)
        self._transition(agent, AgentAction.WRAP_UP_ENDED, None, now, out)
        self._dispatch_agent(agent, now, out)
        return out

    # ------------------------------------------------------------------- timers

    def next_deadline(self) -> float | None:
        return self._timers.next_deadline()

    def handle_timers(self, now: float) -> list[Notification]:
        out: list[Notification] = []
        while (due := self._timers.pop_due(now)) is not None:
            kind, key = due
            match kind:
                case TimerKind.WRAP:
                    agent = self._agents[key]
                    if agent.state is AgentState.WRAP_UP:
                        self._transition(agent, AgentAction.WRAP_UP_ENDED, None, now, out)
                        self._dispatch_agent(agent, now, out)
                case TimerKind.RING:
                    contact = self._contacts.get(key)
                    if contact is not None and contact.state is ContactState.OFFERED:
                        agent = self._agents[_require(contact.agent_id)]
                        self._ring_no_answer(contact, agent, RescindReason.RONA, now, out)
                case TimerKind.WAIT:
                    contact = self._contacts.get(key)
                    if contact is not None and contact.state is ContactState.QUEUED:
                        self._overflow(contact, now, out)
                case TimerKind.RELAX:
                    contact = self._contacts.get(key)
                    if contact is not None and contact.state is not ContactState.CONNECTED:
                        self._relax(contact, now, out)
                case unreachable:
                    assert_never(unreachable)
        return out

    # ---------------------------------------------------------------- reporting

    def queue_status(self, call_id: str, now: float) -> QueueStatus | None:
        contact = self._contacts.get(call_id)
        if contact is None:
            return None
        position = 0
        if contact.state is ContactState.QUEUED:
            position = self._index(contact) + 1
        return reporting.queue_status(
            call_id=call_id,
            queue=contact.queue,
            state=contact.state,
            position=position,
            aht_s=self._aht[contact.queue],
            staffed=1 if contact.target is not None else len(self._staffed[contact.queue]),
            entered_at=contact.entered_at,
            now=now,
        )

    def queue_statistics(self, queue: str, call_id: str, now: float) -> QueueStatistics:
        """Queue numbers for a flow; `UnknownQueue` for a queue not configured."""
        self._validator.queue(queue)
        oldest: tuple[int, float] | None = None
        for score, waiting_id in self._waiting.entries(queue):
            seq = int(score) % SEQ_SPAN  # arrivals are numbered: the lowest came first
            if oldest is None or seq < oldest[0]:
                oldest = (seq, self._contacts[waiting_id].entered_at)
        contact = self._contacts.get(call_id)
        position = 0
        if (
            contact is not None
            and contact.target is None
            and contact.queue == queue
            and contact.state is ContactState.QUEUED
        ):
            position = self._index(contact) + 1
        return reporting.queue_statistics(
            queue=queue,
            waiting=self._waiting.length(queue),
            staffed=len(self._staffed[queue]),
            available=len(self._available[queue]),
            oldest_entered_at=None if oldest is None else oldest[1],
            position=position,
            aht_s=self._aht[queue],
            now=now,
        )

    def snapshot(self, now: float) -> CenterSnapshot:
        offered: dict[str, int] = dict.fromkeys(self._queues, 0)
        for contact in self._contacts.values():
            if contact.state is ContactState.OFFERED:
                offered[contact.queue] += 1
        queues = tuple(
            reporting.queue_snapshot(
                name=name,
                waiting=(
                    (
                        call_id,
                        self._contacts[call_id].priority,
                        self._contacts[call_id].entered_at,
                        self._contacts[call_id].requirements,
                    )
                    for call_id in self._waiting.calls(name)
                ),
                offered=offered[name],
                available=len(self._available[name]),
                staffed=len(self._staffed[name]),
                aht_s=self._aht[name],
                now=now,
            )
            for name in self._queues
        )
        agents = tuple(
            AgentSnapshot(
                agent_id=a.agent_id,
                name=a.name,
                state=a.state,
                reason=a.reason,
                since=a.since,
                call_id=a.call_id,
                teams=a.teams,
                parked=tuple(self._personal.calls(a.agent_id)),
            )
            for a in self._agents.values()
        )
        return CenterSnapshot(taken_at=now, queues=queues, agents=agents)

    # ------------------------------------------------------------------ helpers

    def _agent(self, agent_id: str) -> AgentRecord:
        self._validator.agent(agent_id)
        return self._agents[agent_id]

    def _ewt(self, queue: str, position: int) -> float | None:
        return estimate_wait_s(position, self._aht[queue], len(self._staffed[queue]))

    def _line(self, contact: ContactRecord) -> tuple[WaitingLists, str]:
        """Where the contact waits: its queue's line, or its named agent's."""
        if contact.target is not None:
            return self._personal, contact.target
        return self._waiting, contact.queue

    def _line_ewt(self, contact: ContactRecord, position: int) -> float | None:
        if contact.target is not None:  # one agent serves that line
            return estimate_wait_s(position, self._aht[contact.queue], 1)
        return self._ewt(contact.queue, position)

    def _index(self, contact: ContactRecord) -> int:
        lines, key = self._line(contact)
        return lines.index(key, contact.score, contact.call_id)

    def _insert_waiting(self, contact: ContactRecord, now: float) -> int:
        """Put `contact` in its line at the place its score gives; arm its maximum wait."""
        lines, key = self._line(contact)
        index = lines.insert(key, contact.score, contact.call_id)
        contact.state = ContactState.QUEUED
        contact.agent_id = None
        if contact.max_wait_s is not None:
            self._timers.set(
                TimerKind.WAIT, contact.call_id, contact.queued_at + contact.max_wait_s
            )
        return index

    def _remove_waiting(self, contact: ContactRecord, out: list[Notification]) -> None:
        lines, key = self._line(contact)
        index = lines.remove(key, contact.score, contact.call_id)
        self._timers.cancel(TimerKind.WAIT, contact.call_id)
        self._positions_from(contact, index, out)

    def _positions_from(self, contact: ContactRecord, start: int, out: list[Notification]) -> None:
        """Tell the callers of `contact`'s line at 0-based `start`.. (within the first N)
        their new position."""
        lines, key = self._line(contact)
        for index in range(start, min(lines.length(key), self.config.position_updates)):
            other = self._contacts[lines.call_at(key, index)]
            out.append(
                QueuePositionChanged(
                    call_id=other.call_id,
                    queue=other.queue,
                    position=index + 1,
                    estimated_wait_s=self._line_ewt(other, index + 1),
                )
            )

    def _leave(self, contact: ContactRecord, reason: LeaveReason, out: list[Notification]) -> None:
        """The contact leaves the center without an agent (not waiting any more)."""
        self._timers.cancel(TimerKind.RELAX, contact.call_id)
        del self._contacts[contact.call_id]
        out.append(ContactLeftQueue(call_id=contact.call_id, queue=contact.queue, reason=reason))

    def _requeue(self, contact: ContactRecord, now: float, out: list[Notification]) -> None:
        """An offer failed: back to its line with its original score, i.e. at the head."""
        index = self._insert_waiting(contact, now)
        self._positions_from(contact, index, out)
        self._dispatch_contact(contact, now, out)

    def _ring_no_answer(
        self,
        contact: ContactRecord,
        agent: AgentRecord,
        reason: str,
        now: float,
        out: list[Notification],
    ) -> None:
        self._timers.cancel(TimerKind.RING, contact.call_id)
        agent.call_id = None
        out.append(OfferRescinded(call_id=contact.call_id, agent_id=agent.agent_id, reason=reason))
        self._transition(agent, AgentAction.RING_NO_ANSWER, IDLE_REASON_RONA, now, out)
        if contact.target is not None:
            # The one agent it was for did not take it: the flow's recovery queue decides.
            self._leave(contact, LeaveReason.AGENT_UNAVAILABLE, out)
        else:
            self._requeue(contact, now, out)

    def _overflow(self, contact: ContactRecord, now: float, out: list[Notification]) -> None:
        """Maximum wait reached: to the fallback queue, or out of the center."""
        self._remove_waiting(contact, out)
        origin = contact.queue
        target = contact.fallback_queue
        if target is None or target in contact.visited:
            self._timers.cancel(TimerKind.RELAX, contact.call_id)
            del self._contacts[contact.call_id]
            reason = LeaveReason.MAX_WAIT if target is None else LeaveReason.NO_FALLBACK
            out.append(ContactLeftQueue(call_id=contact.call_id, queue=origin, reason=reason))
            return
        config = self._queues[target]
        contact.queue = target
        contact.visited.append(target)
        contact.queued_at = now
        contact.max_wait_s = config.max_wait_s
        contact.fallback_queue = config.fallback_queue
        out.append(ContactMovedQueue(call_id=contact.call_id, from_queue=origin, to_queue=target))
        self._requeue(contact, now, out)

    def _relax(self, contact: ContactRecord, now: float, out: list[Notification]) -> None:
        """The next relaxation step: new requirements, and perhaps an agent who meets them."""
        step = contact.relaxation[contact.step]
        contact.step += 1
        contact.requirements = step.requirements
        if contact.step < len(contact.relaxation):
            deadline = contact.entered_at + contact.relaxation[contact.step].after_s
            self._timers.set(TimerKind.RELAX, contact.call_id, deadline)
        if contact.state is ContactState.QUEUED:
            self._dispatch_contact(contact, now, out)

    def _offer(
        self, contact: ContactRecord, agent: AgentRecord, now: float, out: list[Notification]
    ) -> None:
        self._remove_waiting(contact, out)
        contact.state = ContactState.OFFERED
        contact.agent_id = agent.agent_id
        agent.call_id = contact.call_id
        out.append(
            ContactOffered(
                call_id=contact.call_id,
                agent_id=agent.agent_id,
                queue=contact.queue,
                data=dict(contact.data),
            )
        )
        self._transition(agent, AgentAction.OFFER, None, now, out)
        ring_s = self._queues[contact.queue].ring_timeout_s
        self._timers.set(TimerKind.RING, contact.call_id, now + ring_s)

    def _dispatch_contact(
        self, contact: ContactRecord, now: float, out: list[Notification]
    ) -> None:
        """A contact newly waiting (or with new requirements) goes to the longest-available
        agent of its queue who meets its requirements, if there is one.

        Every other waiting contact already had no such agent (the invariant), so offering
        this one ahead of them takes nothing from them."""
        if contact.target is not None:
            named = self._agents[contact.target]
            if named.state is AgentState.AVAILABLE:
                self._offer(contact, named, now, out)
            return
        for _, agent_id in self._available[contact.queue]:
            agent = self._agents[agent_id]
            if matches(agent.skills, contact.requirements, self._types):
                self._offer(contact, agent, now, out)
                return

    def _dispatch_agent(self, agent: AgentRecord, now: float, out: list[Notification]) -> None:
        """A newly available agent takes the first contact, in offer order (priority, then
        arrival) across the queues they serve, whose requirements they meet.

        Contacts without requirements match at once, so without skills this looks at one
        head per queue; a contact this agent cannot serve is passed over, not skipped for
        good (the next agent looks again)."""
        if agent.state is not AgentState.AVAILABLE:
            return
        best: tuple[float, str] | None = self._personal.head(agent.agent_id)
        for queue in agent.queues:
            for entry in self._waiting.entries(queue):
                if best is not None and entry >= best:
                    break
                if matches(agent.skills, self._contacts[entry[1]].requirements, self._types):
                    best = entry
                    break
        if best is not None:
            self._offer(self._contacts[best[1]], agent, now, out)

    def _transition(
        self,
        agent: AgentRecord,
        action: AgentAction,
        reason: str | None,
        now: float,
        out: list[Notification],
    ) -> bool:
        """Apply the transition table; keep the available lists in step. False for a no-op."""
        try:
            target = next_state(agent.state, action)
        except KeyError:
            raise InvalidTransition(agent.agent_id, agent.state.value, action.value) from None
        if target is None:
            return False
        if agent.state is AgentState.AVAILABLE:
            for queue in agent.queues:
                available = self._available[queue]
                del available[bisect_left(available, (agent.since, agent.agent_id))]
        agent.state = target
        agent.reason = reason if target is AgentState.IDLE else None
        agent.since = now
        if target is AgentState.AVAILABLE:
            for queue in agent.queues:
                insort(self._available[queue], (now, agent.agent_id))
        out.append(
            AgentStateChanged(agent_id=agent.agent_id, state=target, reason=agent.reason, since=now)
        )
        return True


def _require(value: str | None) -> str:
    if value is None:  # pragma: no cover - guarded by the invariants above
        raise AssertionError("contact in an agent state without an agent")
    return value
