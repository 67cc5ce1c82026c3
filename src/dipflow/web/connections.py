"""The web port's edge: how many connections a client and all clients may hold, and how
long a client may take to send a request. Layer 6 (web); `dipflow.cli.server` runs
uvicorn with `uvicorn_options`.

Why at the protocol, not in the app: an idle connection or a request whose head never
ends never reaches the ASGI app, yet each holds a file descriptor and memory. uvicorn
lets the HTTP and WebSocket protocol classes be chosen; dipflow's are uvicorn's h11 and
websockets (sans-I/O) protocols with four additions:

- **Connection budget.** A connection over `max_connections_per_source` from its address,
  or over `max_connections` in all, is closed as soon as it is accepted. The total is
  capped at half the process's file-descriptor limit, and connections are accepted at
  most an eighth of the limit at a time (the listen backlog), so that a flood of
  connections can never use up the descriptors SIP, RTP and the CRM client need. Configured
  `trusted_proxies` have no per-source limit (all their clients share their address).
- **Request read deadline.** From the moment a connection opens, or a response was sent
  and more bytes arrive, the client has `request_read_timeout_s` to send the whole
  request (head and body); otherwise the connection is closed. Idle and half-sent
  connections (slowloris) do not pile up. Idle keep-alive connections end after
  `keep_alive_s` (uvicorn's own timer).
- **Bounded head.** The h11 parser refuses a request line and headers longer than
  `max_header_bytes` (400, closed). httptools, uvicorn's default when installed, has
  no such bound: four connections streaming endless headers grew the process by
  250 MiB. dipflow always uses h11.
- **Bounded WebSocket frames.** A frame over `max_ws_message_bytes` closes the socket
  with 1009 before its payload is read (uvicorn's default buffers 16 MiB).

Refusals are logged at most once a minute, with counts (a flood must not flood the log).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
import time
from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from dipflow.runtime.config import WebSettings
from dipflow.runtime.websecurity import ConnectionLimits
from dipflow.web.throttle import source_key

log = logging.getLogger("dipflow.web.connections")

REFUSAL_LOG_INTERVAL_S = 60.0
FD_SHARE = 0.5
"""Share of the process's file-descriptor limit the web port may hold at most."""


def fd_limit() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def accept_backlog(fds: int | None) -> int:
    """The listen backlog, which is also how many connections asyncio accepts in one go
    before the loop runs again: each is a descriptor until its protocol refuses it, so a
    flood must not be accepted 2,048 at a time (uvicorn's default) into a process with
    1,024 descriptors. An eighth of the limit, between 16 and 2,048."""
    if fds is None:
        return 2048
    return max(16, min(2048, fds // 8))


def effective_max_connections(limits: ConnectionLimits, fds: int | None) -> int:
    """`max_connections`, lowered to `FD_SHARE` of the descriptor limit (at least 16)."""
    if fds is None:
        return limits.max_connections
    return max(16, min(limits.max_connections, int(fds * FD_SHARE)))


class ConnectionBudget:
    """Open connections per source address and in total; decides admissions."""

    def __init__(self, *, total: int, per_source: int, exempt: Sequence[str] = ()) -> None:
        self.total = total
        self.per_source = per_source
        self._exempt = [ipaddress.ip_network(n, strict=False) for n in exempt]
        self._open: dict[object, str] = {}
        self._by_source: dict[str, int] = {}
        self._refused = {"source": 0, "total": 0}
        self._last_log = -REFUSAL_LOG_INTERVAL_S

    def __len__(self) -> int:
        return len(self._open)

    def _is_exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._exempt)

    def acquire(self, transport: asyncio.BaseTransport) -> bool:
        """Admit the connection (and count it) or refuse it (counted nowhere)."""
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        source = source_key(address)
        if len(self._open) >= self.total:
            self._note_refusal("total")
            return False
        if self._by_source.get(source, 0) >= self.per_source and not self._is_exempt(address):
            self._note_refusal("source")
            return False
        self._open[transport] = source
        self._by_source[source] = self._by_source.get(source, 0) + 1
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        """The connection ended (idempotent; unknown transports are ignored)."""
        source = self._open.pop(transport, None)
        if source is None:
            return
        left = self._by_source.get(source, 1) - 1
        if left > 0:
            self._by_source[source] = left
        else:
            self._by_source.pop(source, None)

    def _note_refusal(self, why: str) -> None:
        self._refused[why] += 1
        now = time.monotonic()
        if now - self._last_log < REFUSAL_LOG_INTERVAL_S:
            return
        self._last_log = now
        log.warning(
            "web port: refused %d connection(s) over the per-source limit (%d) and %d over "
            "the total limit (%d) since the last report",
            self._refused["source"],
            self.per_source,
            self._refused["total"],
            self.total,
        )
        self._refused = {"source": 0, "total": 0}


def guarded_protocols(
    budget: ConnectionBudget, limits: ConnectionLimits
) -> tuple[type[H11Protocol], type[WebSocketsSansIOProtocol]]:
    """uvicorn's h11 and websockets protocols, counted by `budget`, with the read deadline."""
    read_timeout_s = limits.request_read_timeout_s

    class GuardedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if not budget.acquire(transport):
                transport.abort()  # at once: a refused peer gets no buffered goodbye
                return
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            budget.release(self.transport)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self.cycle is None or self.cycle.response_complete:
                self._arm()  # the bytes of a new request: it must be complete in time
            super().data_received(data)
            cycle = self.cycle
            if cycle is not None and not cycle.more_body and not cycle.response_complete:
                self._disarm()  # the whole request is in; the app takes its own time

        def handle_websocket_upgrade(self, event: Any) -> None:
            self._disarm()  # the WebSocket protocol takes the connection (and its count)
            super().handle_websocket_upgrade(event)

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(read_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            cycle = self.cycle
            if cycle is not None and not cycle.more_body and not cycle.response_complete:
                return  # the request arrived meanwhile
            log.debug(
                "web port: %s sent no complete request in %.0f s", self.client, read_timeout_s
            )
            self.transport.close()

    class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
        def connection_lost(self, exc: Exception | None) -> None:
            budget.release(self.transport)
            super().connection_lost(exc)

    return GuardedH11Protocol, GuardedWebSocketProtocol


def uvicorn_options(web: WebSettings, *, fds: int | None = None) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.Config` that put the edge in place."""
    limits = web.limits
    fds = fds if fds is not None else fd_limit()
    total = effective_max_connections(limits, fds)
    budget = ConnectionBudget(
        total=total, per_source=limits.max_connections_per_source, exempt=web.trusted_proxies
    )
    http, ws = guarded_protocols(budget, limits)
    return {
        "http": http,
        "ws": ws,
        "backlog": accept_backlog(fds),
        "h11_max_incomplete_event_size": limits.max_header_bytes,
        "timeout_keep_alive": limits.keep_alive_s,
        "ws_max_size": limits.max_ws_message_bytes,
        # Forwarded headers only from configured proxies (uvicorn's default trusts
        # loopback, letting any local process pick the login throttle's key).
        "proxy_headers": bool(web.trusted_proxies),
        "forwarded_allow_ips": list(web.trusted_proxies),
        "server_header": False,
    }
