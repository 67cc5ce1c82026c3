"""The web app's protective settings (`web.login`, `web.limits`, `web.sessions`...).

Split from `dipflow.runtime.config` so that the configuration file stays readable;
`WebSettings` references these models. docs/security.md says what each protection does
and docs/configuration.md lists the keys. Layer 5 (runtime).
"""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoginThrottleSettings(_Strict):
    """Failed desktop logins, counted per client address and per username *and* address.

    Every attempt is counted before its password is checked. A key within its free
    attempts goes straight to the check; past them, the next attempt must wait a delay
    that doubles with each further attempt (`first_delay_s`, `2 x`, `4 x`... up to
    `max_delay_s`). There is no per-user lock: a guesser elsewhere cannot lock an agent out.
    """

    free_attempts_per_source: int = Field(default=20, ge=1)
    """Attempts from one address (any usernames) before delays start; generous, because a
    call center's agents often share one address behind NAT."""
    free_attempts_per_user_and_source: int = Field(default=5, ge=1)
    """Attempts at one username from one address before delays start."""
    first_delay_s: float = Field(default=2.0, gt=0)
    max_delay_s: float = Field(default=300.0, gt=0)
    forget_after_s: float = Field(default=900.0, gt=0)
    """A key with no attempt for this long starts over."""


class ConnectionLimits(_Strict):
    """How much of the node one client, and all clients together, may hold on the web port."""

    max_connections: int = Field(default=2000, ge=1)
    """Open connections in total (HTTP and WebSocket). Lowered at start to half the
    process's file-descriptor limit, so that the web port can never use up the
    descriptors SIP, RTP and the CRM connections need."""
    max_connections_per_source: int = Field(default=200, ge=1)
    """Open connections from one client address; configured `trusted_proxies` are exempt
    (every client behind them shares their address)."""
    request_read_timeout_s: float = Field(default=10.0, gt=0)
    """Time a client gets to send a whole request (head and body) once the connection is
    open or the previous response was sent; a silent or half-sent request is closed."""
    keep_alive_s: int = Field(default=5, ge=1)
    """An idle keep-alive connection is closed after this long (uvicorn's
    `timeout_keep_alive`)."""
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    """The request line and headers together; a longer head gets 400 and is closed."""
    max_ws_message_bytes: int = Field(default=64 * 1024, ge=4096)
    """The largest WebSocket message (the server refuses a larger frame with close code
    1009 before buffering it; the desktop and phone messages are at most 4 kB)."""


class SessionSettings(_Strict):
    """Desktop sign-in sessions: a session id in the signed cookie, checked against a table
    the node keeps. Signing out deletes the entry (every copy of the cookie stops working
    and the session's WebSockets are closed)."""

    idle_timeout_s: float = Field(default=3600.0, gt=0)
    """A session with no request for this long ends. An open desktop socket counts as
    activity (an agent waiting for calls is not idle)."""
    max_age_s: float = Field(default=12 * 3600.0, gt=0)
    """A session ends this long after sign-in, however active."""


def valid_network(value: str) -> str:
    """`value` when it is an IP address or network (`10.0.0.0/24`); ValueError otherwise."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IP address or network (CIDR)") from exc
    return value
