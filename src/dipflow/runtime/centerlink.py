"""The runtime's link to the contact center: commands in, notifications back as engine events.

    Enqueue            -> center.enqueue
    Dequeue            -> center.abandon (the flow took the caller out of the queue)
    caller gone        -> center.abandon (queued/offered) or center.end_contact (connected)
    ContactQueued / QueuePositionChanged -> QueueUpdated
    ContactOffered     -> AgentOffered
    ContactLeftQueue   -> QueueFailed (max wait, no fallback; not when the caller abandoned)
    ContactMovedQueue  -> bookkeeping only (the flow keeps waiting, in the fallback queue)

Center errors (unknown queue, offer gone) are exceptions of `dipflow.center.errors`;
here they become `False` or `QueueFailed`, never a crash.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dipflow.center.model import (
    IDLE_REASON_RONA,
    ContactLeftQueue,
    ContactMovedQueue,
    ContactOffered,
    ContactQueued,
    LeaveReason,
    Notification,
    OfferRescinded,
    QueuePositionChanged,
)
from dipflow.engine.commands import Dequeue, Enqueue
from dipflow.engine.events import AgentOffered, QueueFailed, QueueUpdated
from dipflow.runtime.notices import CallPhase

if TYPE_CHECKING:
    from dipflow.runtime.runtime import Runtime
    from dipflow.runtime.session import CallSession

log = logging.getLogger("dipflow.runtime.center")


async def _call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a center method whether it is a coroutine function or plain."""
    result = method(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


class CenterLink:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        center = self._runtime.center
        start = getattr(center, "start", None)
        if callable(start):
            await _call(start)
        self._unsubscribe = center.subscribe(self._on_notification)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        center = self._runtime.center
        try:
            await center.stop()
        except Exception:
            log.exception("center stop failed")
        try:
            await center.store.aclose()  # the runtime made the store: it closes it
        except Exception:
            log.exception("center store close failed")

    # -- commands -------------------------------------------------------------------------------

    async def enqueue(self, session: CallSession, command: Enqueue) -> None:
        session.facts.last_enqueue = command
        await _call(
            self._runtime.center.enqueue,
            session.call_id,
            command.queue,
            priority=command.priority,
            max_wait_s=command.max_wait_s,
            fallback_queue=command.fallback_queue,
            data=dict(command.data),
        )

    async def dequeue(self, session: CallSession, command: Dequeue) -> None:
        del command
        await _call(self._runtime.center.abandon, session.call_id)
        session.facts.phase = CallPhase.IVR

    async def accept(self, agent_id: str, call_id: str) -> bool:
        try:
            result = await _call(self._runtime.center.accept, agent_id, call_id)
        except Exception as exc:  # the offer is gone (rescinded, taken, caller left)
            log.info("accept of %s by %s refused: %s", call_id, agent_id, exc)
            return False
        if isinstance(result, tuple):
            result = result[0]
        return result is not False

    async def decline(self, agent_id: str, call_id: str) -> None:
        try:
            await _call(self._runtime.center.decline, agent_id, call_id)
        except Exception as exc:
            log.info("decline of %s by %s refused: %s", call_id, agent_id, exc)

    async def bridge_failed(self, agent_id: str, call_id: str) -> None:
        """The agent accepted but their leg failed (their phone did not answer): treated as
        a ring-no-answer. The assignment ends, the agent is made idle ("rona") and the
        caller goes back to the queue, still hearing music; the flow is not disturbed."""
        center = self._runtime.center
        session = self._runtime.session(call_id)
        # A leg that failed because the caller hung up while it rang is no fault of the
        # agent's: they wrap up as after any call, and are not made idle.
        caller_gone = session is None or session.finished or session.facts.hung_up
        try:
            await center.end_contact(call_id)
            if not caller_gone:
                await center.set_idle(agent_id, IDLE_REASON_RONA)
        except Exception:
            log.exception("call %s: clean-up after agent %s's failed leg", call_id, agent_id)
        if caller_gone or session is None:
            return
        command = session.facts.last_enqueue
        if command is None:
            return
        try:
            await self.enqueue(session, command)
        except Exception as exc:
            log.warning("call %s: requeue after a failed agent leg: %s", call_id, exc)
            session.post(QueueFailed(queue=command.queue, reason="agent unreachable"))

    async def call_ended(self, session: CallSession) -> None:
        """The call is over: take it out of the center whatever state it was in."""
        center = self._runtime.center
        facts = session.facts
        try:
            if facts.agent_id is not None:
                await _call(center.end_contact, facts.call_id)
            elif facts.queue is not None:
                await _call(center.abandon, facts.call_id)
        except Exception as exc:  # already gone from the center: nothing to undo
            log.debug("call %s: center clean-up: %s", facts.call_id, exc)

    # -- notifications --------------------------------------------------------------------------

    def _on_notification(self, note: Notification) -> None:
        call_id = getattr(note, "call_id", None)
        if not isinstance(call_id, str):
            return
        session = self._runtime.session(call_id)
        if session is None:
            return
        facts = session.facts
        if isinstance(note, ContactQueued | QueuePositionChanged):
            session.post(
                QueueUpdated(
                    queue=note.queue,
                    position=note.position,
                    estimated_wait_s=note.estimated_wait_s
                    if note.estimated_wait_s is not None
                    else -1.0,
                )
            )
        elif isinstance(note, ContactOffered):
            agent = self._runtime.agent_endpoint(note.agent_id)
            session.post(AgentOffered(agent_id=note.agent_id, agent_name=agent.display_name))
        elif isinstance(note, OfferRescinded):
            facts.offered_agent_id = None
            if facts.agent_id is None and facts.phase is CallPhase.OFFERED:
                facts.phase = CallPhase.QUEUED
        elif isinstance(note, ContactMovedQueue):
            facts.queue = note.to_queue
        elif (
            isinstance(note, ContactLeftQueue)
            and note.reason != LeaveReason.ABANDONED.value
            and not facts.hung_up
        ):
            facts.phase = CallPhase.IVR
            # Named as the flow queued it: after the center moved the contact to its
            # fallback queue (ContactMovedQueue), the engine still knows it by the queue
            # it asked for, and would ignore a failure of the fallback as stale.
            queue = note.queue
            if facts.last_enqueue is not None and note.queue == facts.queue:
                queue = facts.last_enqueue.queue
            session.post(QueueFailed(queue=queue, reason=note.reason))
