"""The asyncio pump of the sans-IO SIP user agent. Layer 4 (channels).

`SipDriver` feeds the `SipUserAgent` every message the transports receive, sends what it
returns, re-arms one loop timer at the agent's `next_deadline()`, and hands each event it
reports to the channel's handler (a failing handler is logged: one call's bug must not
take the channel down). It also runs the channel's background tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from dipflow.channels.sip.agent import SipUserAgent
from dipflow.channels.sip.events import Address, SipEvent
from dipflow.channels.sip.settings import SipSettings
from dipflow.channels.sip.tls import TlsTransport
from dipflow.channels.sip.transport import SipTransports

log = logging.getLogger(__name__)

EventHandler = Callable[[SipEvent], None]


class SipDriver:
    """The user agent on the event loop: `await start()`, then `flush()` after every
    call into `ua`; `await close()` at the end."""

    def __init__(self, settings: SipSettings, on_event: EventHandler) -> None:
        self.settings = settings
        self.on_event = on_event
        self.transports = SipTransports(self.receive, max_message_bytes=settings.max_message_bytes)
        self.tls = TlsTransport(self.transports, settings.tls)
        self.address: Address = (settings.host, settings.port)
        """Where SIP listens (the real port once started, when `port` was 0)."""
        self._ua: SipUserAgent | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def ua(self) -> SipUserAgent:
        if self._ua is None:
            raise RuntimeError("SipServer is not started")
        return self._ua

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("SipServer is not started")
        return self._loop

    @property
    def started(self) -> bool:
        return self._ua is not None

    async def start(self) -> Address:
        self._loop = asyncio.get_running_loop()
        settings = self.settings
        port = await self.transports.open(settings.host, settings.port, settings.transports)
        self.address = (settings.host, port)
        self._ua = SipUserAgent(settings, local_port=port)
        self._ua.tls_port = await self.tls.listen(settings.host)
        return self.address

    def now(self) -> float:
        return self.loop.time()

    def receive(self, data: bytes, source: Address, transport: str) -> None:
        if self._ua is None:
            return
        self._dispatch(self._ua.receive_datagram(data, source, self.now(), transport))
        self.flush()

    def flush(self) -> None:
        """Send what the agent queued and re-arm the timer at its next deadline."""
        if self._ua is None:
            return
        for out in self._ua.take_outgoing():
            self.transports.send(out)
        deadline = self._ua.next_deadline()
        if deadline != self._timer_at:
            self.cancel_timer()
            self._timer_at = deadline
            if deadline is not None and self._loop is not None:
                self._timer = self._loop.call_at(deadline, self._on_timer)

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run `coroutine` as a task of the channel (cancelled by `close`)."""
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self.cancel_timer()
        for task in list(self._tasks):
            task.cancel()
        await self.tls.close()
        await self.transports.close()

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._dispatch(self.ua.handle_timer(self.now()))
        self.flush()

    def _dispatch(self, events: list[SipEvent]) -> None:
        for event in events:
            try:
                self.on_event(event)
            except Exception:  # a bug in one call must not take the channel down
                log.exception("SIP event %r failed", type(event).__name__)
