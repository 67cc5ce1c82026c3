"""What each agent's desktop shows, kept current from center and runtime notifications.

The hub remembers, per agent, the ringing offer, the call in progress (with its
screen pops) and the agent's state, and pushes every change to that agent's open
sockets only. A socket that (re)connects first gets `snapshot(agent_id)`, so a
desktop that lost its network for a while shows the same offer or call as before.
Layer 6 (web).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, assert_never

from dipflow.center.model import (
    AgentStateChanged,
    ContactAssigned,
    ContactEnded,
    ContactLeftQueue,
    ContactMovedQueue,
    ContactOffered,
    ContactQueued,
    Notification,
    OfferRescinded,
    QueuePositionChanged,
)
from dipflow.runtime.notices import CallUpdated, RuntimeNotice, ScreenPopReady
from dipflow.runtime.runtime import Runtime
from dipflow.web.popguard import ScreenPopPolicy

log = logging.getLogger("dipflow.web.hub")

OUTBOX_LIMIT = 500
"""Messages queued for one socket before it is considered dead (a stalled client)."""


@dataclass(slots=True)
class _Offer:
    call_id: str
    queue: str
    data: dict[str, str]
    ring_total_s: float
    offered_at: float
    """Monotonic time of the offer (the ring countdown resumes from it after a reconnect)."""


@dataclass(slots=True)
class _Call:
    call_id: str
    queue: str | None
    data: dict[str, str]
    connected_at: float
    """Wall clock."""
    pops: list[dict[str, Any]] = field(default_factory=list)
    ended: bool = False


@dataclass(slots=True)
class _AgentState:
    state: str
    reason: str | None
    changed_at: float
    """Wall clock when this hub saw the change."""


CLOSE = {"type": "_close"}
"""Put in an outbox to make its writer close the socket (the desktop reconnects)."""


class Outbox:
    """Messages for one socket; the socket's writer task drains it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(OUTBOX_LIMIT)
        self.overflowed = False

    def close(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(CLOSE)

    def put(self, message: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True


class DesktopHub:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._sockets: dict[str, set[Outbox]] = {}
        self._offers: dict[str, _Offer] = {}
        self._calls: dict[str, _Call] = {}
        self._states: dict[str, _AgentState] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        self._pops = ScreenPopPolicy(runtime.config)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._unsubscribe:
            return
        self._unsubscribe.append(self._runtime.subscribe(self._on_runtime))
        self._unsubscribe.append(self._runtime.center.subscribe(self._on_center))

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    # -- sockets ----------------------------------------------------------------------------------

    def attach(self, agent_id: str) -> Outbox:
        outbox = Outbox()
        self._sockets.setdefault(agent_id, set()).add(outbox)
        return outbox

    def detach(self, agent_id: str, outbox: Outbox) -> None:
        boxes = self._sockets.get(agent_id)
        if boxes is not None:
            boxes.discard(outbox)
            if not boxes:
                del self._sockets[agent_id]

    def disconnect(self, agent_id: str | None = None) -> int:
        """Close the sockets of `agent_id` (all desktops when None), e.g. before a restart;
        the desktops reconnect and get their state back. Returns how many were closed."""
        closed = 0
        for owner, boxes in list(self._sockets.items()):
            if agent_id is None or owner == agent_id:
                for outbox in list(boxes):
                    outbox.close()
                    closed += 1
        return closed

    def _deliver(self, agent_id: str, message: dict[str, Any]) -> None:
        for outbox in list(self._sockets.get(agent_id, ())):
            outbox.put(message)

    # -- what a (re)connecting desktop is told ----------------------------------------------------

    def snapshot(self, agent_id: str) -> dict[str, Any]:
        state = self._states.get(agent_id)
        offer = self._offers.get(agent_id)
        call = self._calls.get(agent_id)
        return {
            "type": "snapshot",
            "agent": self._state_message(agent_id, state) if state is not None else None,
            "offer": self._offer_message(offer) if offer is not None else None,
            "call": self._call_message(call, replay=True) if call is not None else None,
            "wrap_up_s": self._wrap_up_s(),
        }

    def set_initial_state(
        self, agent_id: str, state: str, reason: str | None, age_s: float
    ) -> None:
        """Seed the agent's state from a center snapshot when the hub has seen no change yet."""
        if agent_id not in self._states:
            self._states[agent_id] = _AgentState(state, reason, time.time() - max(0.0, age_s))

    def offer_of(self, agent_id: str) -> str | None:
        offer = self._offers.get(agent_id)
        return offer.call_id if offer is not None else None

    def call_of(self, agent_id: str) -> str | None:
        call = self._calls.get(agent_id)
        return call.call_id if call is not None and not call.ended else None

    # -- messages -------------------------------------------------------------------------------

    def _wrap_up_s(self) -> float:
        return self._runtime.config.center.wrap_up_s

    def _state_message(self, agent_id: str, state: _AgentState) -> dict[str, Any]:
        return {
            "type": "agent_state",
            "agent_id": agent_id,
            "state": state.state,
            "reason": state.reason,
            "in_state_s": round(max(0.0, time.time() - state.changed_at), 1),
            "wrap_up_s": self._wrap_up_s(),
        }

    def _call_details(self, call_id: str) -> dict[str, Any]:
        data = self._runtime.call_data(call_id)
        if data is None:
            return {"ani": None, "variables": {}, "path": []}
        return {"ani": data.ani, "variables": dict(data.variables), "path": list(data.path)}

    def _contact_fields(
        self, call_id: str, queue: str | None, data: dict[str, str]
    ) -> dict[str, Any]:
        """What an offer and a connected call show alike: the caller, the data (the
        center's and the call's agent-visible variables) and the path through the flow."""
        details = self._call_details(call_id)
        return {
            "call_id": call_id,
            "queue": queue,
            "ani": details["ani"],
            "data": {**data, **details["variables"]},
            "path": details["path"],
        }

    def _offer_message(self, offer: _Offer) -> dict[str, Any]:
        elapsed = time.monotonic() - offer.offered_at
        return {
            "type": "offer",
            **self._contact_fields(offer.call_id, offer.queue, offer.data),
            "ring_total_s": offer.ring_total_s,
            "ring_left_s": round(max(0.0, offer.ring_total_s - elapsed), 1),
        }

    def _call_message(self, call: _Call, *, replay: bool = False) -> dict[str, Any]:
        return {
            "type": "call",
            **self._contact_fields(call.call_id, call.queue, call.data),
            "connected_s": round(max(0.0, time.time() - call.connected_at), 1),
            "ended": call.ended,
            "pops": [{**pop, "replay": True} for pop in call.pops] if replay else [],
        }

    # -- notifications ----------------------------------------------------------------------------

    def _ring_timeout(self, queue: str) -> float:
        queue_config = self._runtime.config.center.queue(queue)
        return queue_config.ring_timeout_s if queue_config is not None else 15.0

    def _on_center(self, note: Notification) -> None:
        try:
            self._handle_center(note)
        except Exception:  # one bad notification must not stop the others: a bug, logged
            log.exception("desktop hub: center notification %r", note)

    def _handle_center(self, note: Notification) -> None:
        match note:
            case ContactOffered():
                offer = _Offer(
                    call_id=note.call_id,
                    queue=note.queue,
                    data=dict(note.data),
                    ring_total_s=self._ring_timeout(note.queue),
                    offered_at=time.monotonic(),
                )
                self._offers[note.agent_id] = offer
                self._deliver(note.agent_id, self._offer_message(offer))
            case OfferRescinded():
                current = self._offers.get(note.agent_id)
                if current is not None and current.call_id == note.call_id:
                    del self._offers[note.agent_id]
                self._deliver(
                    note.agent_id,
                    {"type": "offer_gone", "call_id": note.call_id, "reason": str(note.reason)},
                )
            case ContactAssigned():
                self.connected(note.agent_id, note.call_id)
            case ContactEnded():
                call = self._calls.get(note.agent_id)
                if call is not None and call.call_id == note.call_id and not call.ended:
                    call.ended = True
                    self._deliver(note.agent_id, {"type": "call_ended", "call_id": note.call_id})
            case AgentStateChanged():
                state = _AgentState(str(note.state), note.reason, time.time())
                self._states[note.agent_id] = state
                call = self._calls.get(note.agent_id)
                if call is not None and call.ended and state.state != "wrap_up":
                    del self._calls[note.agent_id]  # wrap-up is over: clear the last call
                self._deliver(note.agent_id, self._state_message(note.agent_id, state))
            case (
                ContactQueued() | QueuePositionChanged() | ContactLeftQueue() | ContactMovedQueue()
            ):
                pass  # about callers in queues: the supervisor view polls those
            case _:
                assert_never(note)

    def connected(self, agent_id: str, call_id: str) -> None:
        """The agent has the call (idempotent: the accept reply and the center both say so)."""
        existing = self._calls.get(agent_id)
        if existing is not None and existing.call_id == call_id and not existing.ended:
            return
        offer = self._offers.pop(agent_id, None)
        call = _Call(
            call_id=call_id,
            queue=offer.queue if offer is not None else None,
            data=dict(offer.data) if offer is not None else {},
            connected_at=time.time(),
        )
        self._calls[agent_id] = call
        self._deliver(agent_id, self._call_message(call))

    def _on_runtime(self, notice: RuntimeNotice) -> None:
        match notice:
            case ScreenPopReady():
                self._screen_pop(notice)
            case CallUpdated():
                pass  # the supervisor view polls calls; a desktop shows only its own
            case _:
                assert_never(notice)

    def _screen_pop(self, notice: ScreenPopReady) -> None:
        call = self._calls.get(notice.agent_id)
        if call is None or call.call_id != notice.call_id:
            self.connected(notice.agent_id, notice.call_id)
            call = self._calls[notice.agent_id]
        data = self._runtime.call_data(notice.call_id)
        refusal = self._pops.refusal(data.dnis if data is not None else None, notice.url)
        if refusal is not None:
            # Not the URL nor its host: either may carry caller or CRM data (kept out of logs).
            log.warning(
                "call %s: a screen pop was not opened: its site is not in the flow's "
                "screen_pop_origins (or the connectors' web clients)",
                notice.call_id,
            )
        pop = {
            "type": "screen_pop",
            "pop_id": uuid.uuid4().hex,
            "call_id": notice.call_id,
            "url": notice.url,
            "label": notice.label,
            "target": notice.target,
            "safe": refusal is None and is_web_url(notice.url),
            "refused": refusal,
        }
        call.pops.append(pop)
        # Only the answering agent's sockets: a pop carries customer data.
        self._deliver(notice.agent_id, pop)

    def refresh_call(self, agent_id: str) -> None:
        """Re-send the call with its latest variables (they change as event flows run)."""
        call = self._calls.get(agent_id)
        if call is not None:
            self._deliver(agent_id, self._call_message(call))


def is_web_url(url: str) -> bool:
    """Only http(s) URLs are opened or linked (never `javascript:` or `data:`)."""
    lowered = url.strip().lower()
    return lowered.startswith(("http://", "https://"))
