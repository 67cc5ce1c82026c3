"""Presence follows the desktop: an agent whose desktop sockets are all gone for
`web.presence_grace_s` stops being Available. Layer 6 (web).

Without it, an agent who closes the browser stays Available in the center and every
call offered to them rings out (ring-no-answer) before going to someone who is there.
The grace period covers a page reload or a network blip: a desktop that reconnects in
time changes nothing. Past it, an Available agent is set Idle with reason `offline`
through the center API (the same transition as the desktop's Idle button), and one who
becomes Available later without a desktop (the end of wrap-up) is set Idle again. The
agent stays logged in to their queues: opening the desktop and pressing Available is
all it takes to take calls again.

Per node: the node that held the agent's sockets decides (sticky sessions keep an
agent on one node; see docs/security.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from dipflow.center.errors import CenterError
from dipflow.center.model import (
    IDLE_REASON_OFFLINE,
    AgentState,
    AgentStateChanged,
    Notification,
)
from dipflow.center.service import ContactCenter
from dipflow.runtime.centerlink import center_failure_level

log = logging.getLogger("dipflow.web.presence")

OFFLINE_REASON = IDLE_REASON_OFFLINE


class Presence:
    def __init__(self, center: ContactCenter, *, grace_s: float) -> None:
        self._center = center
        self._grace_s = grace_s
        self._sockets: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._offline: set[str] = set()
        """Agents whose grace ran out with no desktop: kept out of Available."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self._center.subscribe(self._on_center)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def is_offline(self, agent_id: str) -> bool:
        return agent_id in self._offline

    def opened(self, agent_id: str) -> None:
        """A desktop socket of the agent is open on this node."""
        self._sockets[agent_id] = self._sockets.get(agent_id, 0) + 1
        timer = self._timers.pop(agent_id, None)
        if timer is not None:
            timer.cancel()
        self._offline.discard(agent_id)

    def closed(self, agent_id: str) -> None:
        left = self._sockets.get(agent_id, 0) - 1
        if left > 0:
            self._sockets[agent_id] = left
            return
        self._sockets.pop(agent_id, None)
        loop = asyncio.get_running_loop()
        self._timers[agent_id] = loop.call_later(self._grace_s, self._grace_over, agent_id)

    def _grace_over(self, agent_id: str) -> None:
        self._timers.pop(agent_id, None)
        if self._sockets.get(agent_id):
            return
        self._offline.add(agent_id)
        self._spawn(self._make_idle_if_available(agent_id))

    def _on_center(self, note: Notification) -> None:
        if (
            isinstance(note, AgentStateChanged)
            and note.state is AgentState.AVAILABLE
            and note.agent_id in self._offline
        ):
            self._spawn(self._make_idle_if_available(note.agent_id))

    async def _make_idle_if_available(self, agent_id: str) -> None:
        try:
            snapshot = await self._center.snapshot()
            state = next((a.state for a in snapshot.agents if a.agent_id == agent_id), None)
            if state is not AgentState.AVAILABLE or agent_id not in self._offline:
                return  # on a call, ringing (ring-no-answer handles it), idle, or back
            await self._center.set_idle(agent_id, OFFLINE_REASON)
            log.info("agent %s has no desktop open: set idle (%s)", agent_id, OFFLINE_REASON)
        except CenterError as exc:  # the state changed meanwhile, or the store is down
            log.log(center_failure_level(exc), "presence of %s: %s", agent_id, exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("presence update failed", exc_info=error)
