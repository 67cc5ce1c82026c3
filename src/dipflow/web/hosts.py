"""The Host allow-list: a request must name dipflow by a name dipflow knows. Layer 6 (web).

DNS rebinding: a page on `attacker.example` makes its own name resolve to 127.0.0.1 (or
to dipflow's private address), then talks to dipflow from the victim's browser as
same-origin, e.g. to the demo's public browser phone. Such a request always carries the
attacker's name in `Host`. Allowed are therefore:

- IP literals (`127.0.0.1:8080`, `[::1]`): no name, nothing to rebind;
- `localhost`, this machine's host name and fully qualified name;
- the host of `web.public_url`, and `web.allowed_hosts` (`*.example.com` for a domain).

Anything else gets 400 before any route runs (a WebSocket handshake is refused).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from dipflow.runtime.config import WebSettings

log = logging.getLogger("dipflow.web.hosts")

REFUSAL_LOG_INTERVAL_S = 60.0
"""Refusals are logged at most once a minute (a rebinding page retries in a loop)."""


def allowed_host_names(settings: WebSettings) -> list[str]:
    """The names (lower case, no port) the web app answers to, patterns included."""
    names = {"localhost", socket.gethostname().lower(), socket.getfqdn().lower()}
    if settings.public_url:
        host = urlsplit(settings.public_url).hostname
        if host:
            names.add(host.lower())
    if settings.host not in ("0.0.0.0", "::", ""):
        names.add(settings.host.lower())
    names.update(name.lower().strip() for name in settings.allowed_hosts)
    return sorted(n for n in names if n)


def _name_of(host_header: str) -> str:
    """The host part of a Host header: `[::1]:80` -> `::1`, `Example.com:8080` -> `example.com`."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    def __init__(self, names: Iterable[str]) -> None:
        patterns = [n for n in names if n.startswith("*.")]
        self._exact = frozenset(n for n in names if not n.startswith("*."))
        self._suffixes = tuple(p[1:] for p in patterns)  # "*.example.com" -> ".example.com"
        self._wildcard = "*" in self._exact

    def allows(self, host_header: str | None) -> bool:
        if host_header is None:
            return False  # HTTP/1.1 requires Host; browsers always send it
        name = _name_of(host_header).rstrip(".")
        if not name:
            return False
        return (
            self._wildcard or _is_ip(name) or name in self._exact or name.endswith(self._suffixes)
        )


class HostGuardMiddleware:
    """Refuses HTTP requests and WebSocket handshakes whose Host the policy does not allow."""

    def __init__(self, app: ASGIApp, *, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy
        self._last_log = -REFUSAL_LOG_INTERVAL_S
        self._refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host")
        if self.policy.allows(host):
            await self.app(scope, receive, send)
            return
        self._note_refusal(host)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": ""})
            return
        response = PlainTextResponse("Unknown host name.", status_code=400)
        await response(scope, receive, send)

    def _note_refusal(self, host: str | None) -> None:
        self._refused += 1
        now = time.monotonic()
        if now - self._last_log >= REFUSAL_LOG_INTERVAL_S:
            self._last_log = now
            log.warning(
                "refused %d request(s) for a host name dipflow does not serve (last: %r); "
                "add it to web.allowed_hosts if it is yours",
                self._refused,
                (host or "")[:100],
            )
            self._refused = 0
