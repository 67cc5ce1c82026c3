"""The runtime's link to the contact center: commands in, notifications back as engine events.
Layer 5 (runtime).

    Enqueue            -> center.enqueue
    Dequeue            -> center.abandon (the flow took the caller out of the queue)
    caller gone        -> center.abandon (queued/offered) or center.end_contact (connected)
    ContactQueued / QueuePositionChanged -> QueueUpdated
    ContactOffered     -> AgentOffered
    ContactLeftQueue   -> QueueFailed (max wait, no fallback; not when the caller abandoned)
    ContactMovedQueue  -> bookkeeping only (the flow keeps waiting, in the fallback queue)

The center's deliberate failures are `CenterError`s (an unknown queue, an offer gone, its
store unreachable): here they become `False`, `QueueFailed` or a log line at warning level
(info for a refusal the agent caused), never a crash. Anything else is a bug and travels
on to the boundary that logs it with its traceback (the session, the desktop socket).

The link knows the runtime only as a `SessionDirectory` (find a call's session, name an
agent), so that this module does not import the `Runtime` that owns it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, assert_never

from dipflow.center.errors import CenterError, CenterStoreError, UnknownAgent
from dipflow.center.model import (
    IDLE_REASON_RONA,
    AgentStateChanged,
    ContactAssigned,
    ContactEnded,
    ContactLeftQueue,
    ContactMovedQueue,
    ContactOffered,
    ContactQueued,
    LeaveReason,
    Notification,
    OfferRescinded,
    QueuePositionChanged,
)
from dipflow.center.service import ContactCenter
from dipflow.center.skills import RelaxationStep, SkillRequirement
from dipflow.channels.seam import AgentEndpoint
from dipflow.engine.commands import Dequeue, Enqueue, LookupQueue, SkillNeed
from dipflow.engine.events import AgentOffered, QueueFailed, QueueLookedUp, QueueUpdated
from dipflow.runtime.notices import CallPhase
from dipflow.runtime.session import CallSession

log = logging.getLogger("dipflow.runtime.center")


class SessionDirectory(Protocol):
    """What the link needs of the runtime (`dipflow.runtime.runtime.Runtime` is one)."""

    def session(self, call_id: str) -> CallSession | None: ...

    def agent_endpoint(self, agent_id: str) -> AgentEndpoint: ...


def center_failure_level(exc: CenterError) -> int:
    """A store outage (Redis down) is logged at warning level; a refusal (an agent in the
    wrong state, an offer already gone) at info: neither is a bug, neither has a traceback
    worth reading."""
    return logging.WARNING if isinstance(exc, CenterStoreError) else logging.INFO


def log_center_failure(what: str, exc: CenterError) -> None:
    log.log(center_failure_level(exc), "%s: %s: %s", what, type(exc).__name__, exc)


class CenterLink:
    def __init__(self, center: ContactCenter, directory: SessionDirectory) -> None:
        self._center = center
        self._directory = directory
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        await self._center.start()
        self._unsubscribe = self._center.subscribe(self._on_notification)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._center.stop()
        try:
            await self._center.store.aclose()  # the runtime made the store: it closes it
        except CenterError as exc:
            log_center_failure("closing the center's store", exc)

    # -- commands -------------------------------------------------------------------------------

    async def enqueue(self, session: CallSession, command: Enqueue) -> None:
        """Raises `CenterError` (the session turns it into `QueueFailed`)."""
        session.facts.last_enqueue = command
        agent: str | None = None
        if command.agent is not None:
            # Queue To Agent: the agent named by id, email or name; one the center does not
            # know is refused (the flow takes its recovery queue), never routed elsewhere.
            agent = self._center.find_agent(command.agent, command.agent_lookup)
            if agent is None:
                raise UnknownAgent(f"{command.agent} ({command.agent_lookup})")
        skills, relaxation = self._requirements(session, command)
        await self._center.enqueue(
            session.call_id,
            command.queue,
            priority=command.priority,
            max_wait_s=command.max_wait_s,
            fallback_queue=command.fallback_queue,
            data=dict(command.data),
            skills=skills,
            relaxation=relaxation,
            agent=agent,
            park=command.park,
        )

    async def lookup(self, session: CallSession, command: LookupQueue) -> QueueLookedUp:
        """Webex Get Queue Info: the center's numbers for the queue, as this caller sees
        them. Raises `CenterError` (an unknown queue, the store down): the flow fails."""
        stats = await self._center.queue_statistics(command.queue, session.call_id)
        return QueueLookedUp(
            request_id=command.request_id,
            position=stats.position,
            estimated_wait_s=stats.estimated_wait_s,
            calls_queued=stats.waiting,
            agents_logged_on=stats.staffed,
            agents_available=stats.available,
            oldest_wait_s=stats.oldest_wait_s,
        )

    def _requirements(
        self, session: CallSession, command: Enqueue
    ) -> tuple[list[SkillRequirement], list[RelaxationStep]]:
        """The flow's skill requirements checked against the center's skills. One that is
        not valid (an unknown skill, a value its type does not take) routes the contact
        without requirements, to the longest-available agent of the queue, as Webex does
        ("SBR cannot find a matching agent. In such cases, the call is routed to the
        longest available agent"); logged at warning level with the reason."""
        problems: list[str] = []

        def convert(needs: tuple[SkillNeed, ...]) -> list[SkillRequirement]:
            out: list[SkillRequirement] = []
            for need in needs:
                requirement, problem = self._center.requirement(
                    need.skill, need.condition, need.value
                )
                if requirement is None:
                    problems.append(problem or need.skill)
                else:
                    out.append(requirement)
            return out

        skills = convert(command.skills)
        relaxation = [
            RelaxationStep(after_s=step.after_s, requirements=tuple(convert(step.skills)))
            for step in command.relaxation
        ]
        if problems:
            log.warning(
                "call %s: skill requirements not valid (%s): routed to the longest-available "
                "agent of %s",
                session.call_id,
                "; ".join(problems),
                command.queue,
            )
            return [], []
        return skills, relaxation

    async def dequeue(self, session: CallSession, command: Dequeue) -> None:
        del command
        await self._center.abandon(session.call_id)
        session.facts.phase = CallPhase.IVR

    async def accept(self, agent_id: str, call_id: str) -> bool:
        """True when the agent got the call; False when the offer is gone or the center
        refused (an agent not offered this call, the store down)."""
        try:
            return await self._center.accept(agent_id, call_id)
        except CenterError as exc:
            log_center_failure(f"accept of {call_id} by {agent_id}", exc)
            return False

    async def decline(self, agent_id: str, call_id: str) -> None:
        try:
            await self._center.decline(agent_id, call_id)
        except CenterError as exc:
            log_center_failure(f"decline of {call_id} by {agent_id}", exc)

    async def bridge_failed(self, agent_id: str, call_id: str) -> None:
        """The agent accepted but their leg failed (their phone did not answer): treated as
        a ring-no-answer. The assignment ends, the agent is made idle ("rona") and the
        caller goes back to the queue, still hearing music; the flow is not disturbed."""
        session = self._directory.session(call_id)
        # A leg that failed because the caller hung up while it rang is no fault of the
        # agent's: they wrap up as after any call, and are not made idle.
        caller_gone = session is None or session.finished or session.facts.hung_up
        try:
            await self._center.end_contact(call_id)
            if not caller_gone:
                await self._center.set_idle(agent_id, IDLE_REASON_RONA)
        except CenterError as exc:
            log_center_failure(f"call {call_id}: clean-up after agent {agent_id}'s failed leg", exc)
        if caller_gone or session is None:
            return
        command = session.facts.last_enqueue
        if command is None:
            return
        try:
            await self.enqueue(session, command)
        except CenterError as exc:
            log_center_failure(f"call {call_id}: requeue after a failed agent leg", exc)
            session.post(QueueFailed(queue=command.queue, reason="agent unreachable"))

    async def call_ended(self, session: CallSession) -> None:
        """The call is over: take it out of the center whatever state it was in."""
        facts = session.facts
        try:
            if facts.agent_id is not None:
                await self._center.end_contact(facts.call_id)
            elif facts.queue is not None:
                await self._center.abandon(facts.call_id)
        except CenterError as exc:
            log_center_failure(f"call {facts.call_id}: center clean-up", exc)

    # -- notifications --------------------------------------------------------------------------

    def _on_notification(self, note: Notification) -> None:
        if isinstance(note, AgentStateChanged):
            return  # about an agent, not a call: the desktop's business
        session = self._directory.session(note.call_id)
        if session is None:
            return
        facts = session.facts
        match note:
            case ContactQueued() | QueuePositionChanged():
                estimate = note.estimated_wait_s
                session.post(
                    QueueUpdated(
                        queue=note.queue,
                        position=note.position,
                        estimated_wait_s=estimate if estimate is not None else -1.0,
                    )
                )
            case ContactOffered():
                agent = self._directory.agent_endpoint(note.agent_id)
                session.post(AgentOffered(agent_id=note.agent_id, agent_name=agent.display_name))
            case OfferRescinded():
                facts.offered_agent_id = None
                if facts.agent_id is None and facts.phase is CallPhase.OFFERED:
                    facts.phase = CallPhase.QUEUED
            case ContactMovedQueue():
                facts.queue = note.to_queue
            case ContactLeftQueue():
                if note.reason == LeaveReason.ABANDONED.value or facts.hung_up:
                    return
                facts.phase = CallPhase.IVR
                # Named as the flow queued it: after the center moved the contact to its
                # fallback queue (ContactMovedQueue), the engine still knows it by the queue
                # it asked for, and would ignore a failure of the fallback as stale.
                queue = note.queue
                if facts.last_enqueue is not None and note.queue == facts.queue:
                    queue = facts.last_enqueue.queue
                session.post(QueueFailed(queue=queue, reason=note.reason))
            case ContactAssigned() | ContactEnded():
                pass  # the runtime drove these itself (agent_accept, call_ended)
            case _:
                assert_never(note)
