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
    QueueStatus,
    RescindReason,
)
from dipflow.center.records import AgentRecord, ContactRecord
from dipflow.center.timers import TimerKind, Timers
from dipflow.center.transitions import AgentAction, next_state
from dipflow.center.validation import Validator
from dipflow.center.waiting import WaitingLists, order_score


class CenterCore:
    """All queues, agents, contacts and timers of one contact center, in memory."""

    def __init__(self, config: CenterConfig) -> None:
        self.config = config
        self._queues = {q.name: q for q in config.queues}
        self._waiting = WaitingLists(self._queues)
        self._available: dict[str, list[tuple[float, str]]] = {q: [] for q in self._queues}
        self._staffed: dict[str, set[str]] = {q: set() for q in self._queues}
        self._aht: dict[str, float] = {q: config.default_handle_time_s for q in self._queues}
        self._contacts: dict[str, ContactRecord] = {}
        self._agents = {a.agent_id: AgentRecord(a.agent_id, a.name) for a in config.agents}
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
        now: float,
    ) -> list[Notification]:
        max_wait_s, fallback_queue = self._validator.enqueue(
            call_id, queue, priority, max_wait_s, fallback_queue
        )
        if call_id in self._contacts:
            raise ContactExists(call_id)
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
        )
        self._contacts[call_id] = contact
        out: list[Notification] = []
        index = self._insert_waiting(contact, now)
        out.append(
            ContactQueued(
                call_id=call_id,
                queue=queue,
                position=index + 1,
                estimated_wait_s=self._ewt(queue, index + 1),
            )
        )
        self._positions_from(queue, index + 1, out)
        self._dispatch_queue(queue, now, out)
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
            del self._contacts[call_id]
            out.append(
                ContactLeftQueue(call_id=call_id, queue=contact.queue, reason=LeaveReason.ABANDONED)
            )
            return out
        agent = self._agents[_require(contact.agent_id)]
        self._timers.cancel(TimerKind.RING, call_id)
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
            self._requeue(offered, now, out)
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
            staffed=len(self._staffed[contact.queue]),
            entered_at=contact.entered_at,
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
                    (call_id, self._contacts[call_id].priority, self._contacts[call_id].entered_at)
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

    def _index(self, contact: ContactRecord) -> int:
        return self._waiting.index(contact.queue, contact.score, contact.call_id)

    def _insert_waiting(self, contact: ContactRecord, now: float) -> int:
        """Put `contact` in its queue at the place its score gives; arm its maximum wait."""
        index = self._waiting.insert(contact.queue, contact.score, contact.call_id)
        contact.state = ContactState.QUEUED
        contact.agent_id = None
        if contact.max_wait_s is not None:
            self._timers.set(
                TimerKind.WAIT, contact.call_id, contact.queued_at + contact.max_wait_s
            )
        return index

    def _remove_waiting(self, contact: ContactRecord, out: list[Notification]) -> None:
        index = self._waiting.remove(contact.queue, contact.score, contact.call_id)
        self._timers.cancel(TimerKind.WAIT, contact.call_id)
        self._positions_from(contact.queue, index, out)

    def _positions_from(self, queue: str, start: int, out: list[Notification]) -> None:
        """Tell the callers at 0-based `start`.. (within the first N) their new position."""
        for index in range(start, min(self._waiting.length(queue), self.config.position_updates)):
            out.append(
                QueuePositionChanged(
                    call_id=self._waiting.call_at(queue, index),
                    queue=queue,
                    position=index + 1,
                    estimated_wait_s=self._ewt(queue, index + 1),
                )
            )

    def _requeue(self, contact: ContactRecord, now: float, out: list[Notification]) -> None:
        """An offer failed: back to its queue with its original score, i.e. at the head."""
        index = self._insert_waiting(contact, now)
        self._positions_from(contact.queue, index, out)
        self._dispatch_queue(contact.queue, now, out)

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
        self._requeue(contact, now, out)

    def _overflow(self, contact: ContactRecord, now: float, out: list[Notification]) -> None:
        """Maximum wait reached: to the fallback queue, or out of the center."""
        self._remove_waiting(contact, out)
        origin = contact.queue
        target = contact.fallback_queue
        if target is None or target in contact.visited:
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

    def _dispatch_queue(self, queue: str, now: float, out: list[Notification]) -> None:
        """Offer the queue's head to its longest-available agent while both exist."""
        available = self._available[queue]
        while available and (head := self._waiting.head(queue)) is not None:
            contact = self._contacts[head[1]]
            agent = self._agents[available[0][1]]
            self._offer(contact, agent, now, out)

    def _dispatch_agent(self, agent: AgentRecord, now: float, out: list[Notification]) -> None:
        """A newly available agent takes the best head among the queues they serve."""
        if agent.state is not AgentState.AVAILABLE:
            return
        best = self._waiting.best_head(agent.queues)
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
