"""Keeping a shared center store (Redis) in step with this node through outages and restarts.
Layer 5 (runtime).

The store holds the queues and agents' states, but the truth is on the nodes: each node
has its callers (their sessions: queued, offered, talking to an agent) and hears every
agent's state change. Redis can go away and come back empty (a restart without
persistence, a fail-over to an empty replica). Before this module, queued callers were
then never routed again, agents' desktops showed "Available" while the center had them
logged out, and callers who queued during the outage were told no agent could take the
call and were disconnected. Now, every `check_interval_s`:

* the store's `epoch` is read. It changes when the store lost its state; the node then
  **re-asserts** what it knows: the calls its callers are having with agents
  (`restore_connected`), every agent's last known state (logged in, available or idle
  with the same reason: all nodes do this, and it is idempotent), then its waiting
  callers, re-queued in the order they first queued (the maximum wait starts again);
  finally every desktop of the node is told each agent's state as the store now has it;
* callers who could not be queued because the store was down **wait with music**
  (the flow went on to its music as usual) and are queued as soon as the store answers;
  after `outage_wait_s` they get the flow's queue failure (`QueueFailed`), so a long
  outage still ends in the flow's apology rather than silence;
* center clean-ups that failed (a caller who hung up during the outage) are retried, so
  no ghost stays queued in the store.

What is not restored: an offer ringing at the time (the caller is re-queued and offered
again), a team subset chosen at login (agents come back on all their teams), and the
call of an agent who talks to a caller on *another* node (that node restores it; this
one only logs the agent in).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from dipflow.center.errors import CenterError, CenterStoreError, ContactExists
from dipflow.center.model import IDLE_REASON_LOGIN, AgentState, AgentStateChanged
from dipflow.center.service import ContactCenter
from dipflow.engine.commands import Enqueue
from dipflow.engine.events import QueueFailed
from dipflow.runtime.notices import CallPhase
from dipflow.runtime.session import CallSession

log = logging.getLogger("dipflow.runtime.center")

OUTAGE_REASON = "the contact center is unavailable"


class LiveSessions(Protocol):
    def live_sessions(self) -> Sequence[CallSession]: ...


class CenterRecovery:
    """See the module docstring. `start()` runs the checks; `stop()` ends them."""

    def __init__(
        self,
        center: ContactCenter,
        directory: LiveSessions,
        *,
        submit: Callable[[CallSession, Enqueue], Awaitable[None]],
        check_interval_s: float,
        outage_wait_s: float,
    ) -> None:
        self.center = center
        self.directory = directory
        self.submit = submit
        """Queues a session as its Enqueue says (the center link's, skills and all)."""
        self.check_interval_s = check_interval_s
        self.outage_wait_s = outage_wait_s
        self.agents: dict[str, AgentStateChanged] = {}
        """Each agent's last state this node heard of (from any node, via the relay)."""
        self._epoch: str | None = None
        self._pending: dict[str, tuple[CallSession, float]] = {}
        """Callers whose enqueue failed for an outage: session, deadline (loop time)."""
        self._unsettled: dict[str, bool] = {}
        """Calls whose center clean-up failed: call id -> the agent had the call."""
        self._down = False
        self._task: asyncio.Task[None] | None = None
        self.reasserted = 0
        """How many times this node re-asserted its state (tests, metrics)."""

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        with contextlib.suppress(CenterStoreError):
            self._epoch = await self.center.epoch()
            snapshot = await self.center.snapshot()
            for agent in snapshot.agents:
                self.agents.setdefault(
                    agent.agent_id,
                    AgentStateChanged(
                        agent_id=agent.agent_id,
                        state=agent.state,
                        reason=agent.reason,
                        since=agent.since,
                    ),
                )
        self._task = asyncio.create_task(self._run(), name="center-recovery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval_s)
            try:
                await self.check()
            except CenterError as exc:  # the store failed again half-way: next time
                log.warning("center recovery: %s: %s", type(exc).__name__, exc)
            except Exception:  # a bug: logged, and the checks go on
                log.exception("center recovery failed")

    # -- what the center link tells us ---------------------------------------------------------

    def observe(self, note: AgentStateChanged) -> None:
        self.agents[note.agent_id] = note

    def defer(self, session: CallSession) -> None:
        """`session` could not be queued (the store is down): it waits with music."""
        loop = asyncio.get_running_loop()
        if not self._pending:
            log.warning(
                "contact center store unreachable: callers wait with music for up to %.0f s",
                self.outage_wait_s,
            )
        self._pending[session.call_id] = (session, loop.time() + self.outage_wait_s)

    def unsettled(self, call_id: str, *, connected: bool) -> None:
        """The center could not be told that `call_id` ended: retry when it answers."""
        self._pending.pop(call_id, None)
        self._unsettled[call_id] = connected

    def is_pending(self, call_id: str) -> bool:
        return call_id in self._pending

    def forget(self, call_id: str) -> None:
        self._pending.pop(call_id, None)

    # -- the check -----------------------------------------------------------------------------

    async def check(self) -> None:
        try:
            epoch = await self.center.epoch()
        except CenterStoreError as exc:
            if not self._down:
                self._down = True
                log.warning("contact center store unreachable: %s", exc)
            self._expire_pending()
            return
        if self._down:
            self._down = False
            log.warning("contact center store reachable again")
        if self._epoch is None:
            self._epoch = epoch
        elif epoch != self._epoch:
            await self._reassert()
            self._epoch = epoch  # only once done: a failure half-way is retried
        await self._settle()
        await self._retry_pending()
        self._expire_pending()

    async def _reassert(self) -> None:
        sessions = [
            s for s in self.directory.live_sessions() if not s.finished and not s.facts.hung_up
        ]
        talking = [s for s in sessions if s.facts.agent_id is not None]
        waiting = sorted(
            (
                s
                for s in sessions
                if s.facts.agent_id is None
                and s.facts.phase in (CallPhase.QUEUED, CallPhase.OFFERED)
                and s.facts.last_enqueue is not None
            ),
            key=lambda s: s.facts.queued_at or 0.0,
        )
        log.warning(
            "contact center store lost its state: re-asserting %d call(s) with agents, "
            "%d agent(s), %d waiting caller(s)",
            len(talking), len(self.agents), len(waiting),
        )  # fmt: skip
        self._unsettled.clear()  # an empty store has nothing left to clean up
        restored: set[str] = set()
        for session in talking:
            facts, command = session.facts, session.facts.last_enqueue
            queue = facts.queue or (command.queue if command is not None else None)
            if queue is None or facts.agent_id is None:
                continue
            data = dict(command.data) if command is not None else {}
            await self._guarded(
                self.center.restore_connected(facts.call_id, queue, facts.agent_id, data=data)
            )
            restored.add(facts.agent_id)
        for agent_id, note in list(self.agents.items()):
            if agent_id not in restored:
                await self._reassert_agent(note)
        for session in waiting:
            await self._enqueue(session)
        await self.center.announce_agents()
        self.reasserted += 1

    async def _reassert_agent(self, note: AgentStateChanged) -> None:
        if note.state is AgentState.LOGGED_OUT:
            return
        await self._guarded(self.center.login(note.agent_id))
        match note.state:
            case AgentState.AVAILABLE | AgentState.WRAP_UP | AgentState.OFFERED:
                # An offer ringing then is gone (its caller is re-queued); wrap-up would
                # have ended by itself.
                await self._guarded(self.center.set_available(note.agent_id))
            case AgentState.IDLE:
                if note.reason and note.reason != IDLE_REASON_LOGIN:
                    await self._guarded(self.center.set_idle(note.agent_id, note.reason))
            case AgentState.CONNECTED | AgentState.LOGGED_OUT:
                pass  # connected to a caller of another node: that node restores the call

    async def _enqueue(self, session: CallSession) -> bool:
        """Queue `session` as its flow last asked; True when the store has it now."""
        command = session.facts.last_enqueue
        if command is None:
            self._pending.pop(session.call_id, None)
            return True
        ok = await self._guarded(self.submit(session, command))
        if ok:
            self._pending.pop(session.call_id, None)
        return ok

    async def _retry_pending(self) -> None:
        for session, _ in sorted(
            self._pending.values(), key=lambda item: item[0].facts.queued_at or 0.0
        ):
            if session.finished or session.facts.hung_up:
                self._pending.pop(session.call_id, None)
                continue
            await self._enqueue(session)

    def _expire_pending(self) -> None:
        now = asyncio.get_running_loop().time()
        for call_id, (session, deadline) in list(self._pending.items()):
            if now < deadline:
                continue
            del self._pending[call_id]
            command = session.facts.last_enqueue
            if command is not None and not session.finished:
                session.facts.phase = CallPhase.IVR
                session.post(QueueFailed(queue=command.queue, reason=OUTAGE_REASON))

    async def _settle(self) -> None:
        for call_id, connected in list(self._unsettled.items()):
            if connected:
                done = await self._guarded(self.center.end_contact(call_id))
            else:
                done = await self._guarded(self.center.abandon(call_id))
            if done:
                del self._unsettled[call_id]

    @staticmethod
    async def _guarded(operation: Awaitable[object]) -> bool:
        """Await a center operation; False when the center refused it. A refusal here is
        the store knowing better (another node acted first), not a failure; an outage
        (`CenterStoreError`) is raised to `check`, which tries again next time."""
        try:
            await operation
        except CenterStoreError:
            raise
        except ContactExists:
            return True  # already queued (by an earlier attempt): what we wanted
        except CenterError as exc:
            log.info("center recovery: %s: %s", type(exc).__name__, exc)
            return False
        return True
