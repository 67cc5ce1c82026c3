"""Browser-facing hardening: security headers on every response, CSRF tokens, origin checks.

The Content-Security-Policy allows scripts, styles, images, audio and connections
from this origin only (plus this page's own WebSocket), no plugins, no framing of
our pages; `frame-src` allows http(s) so that an "embedded" screen pop can show the
CRM page in the desktop's iframe panel. No page has inline script or inline event
handlers, so `script-src 'self'` needs no `unsafe-inline` and no nonce.
Layer 6 (web).
"""

from __future__ import annotations

import contextlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData, Headers
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
CSRF_FIELD = "csrf_token"
CSRF_SESSION_KEY = "csrf"
MAX_FORM_BYTES = 16 * 1024
"""The login and logout forms are a few hundred bytes; Starlette keeps a form in memory."""


def safe_host(headers: Headers | Mapping[str, str]) -> str | None:
    """The Host header when it is a plain host[:port] (it is echoed into the CSP)."""
    host = headers.get("host")
    if host and _HOST.fullmatch(host):
        return host
    return None


def content_security_policy(host: str | None) -> str:
    sockets = f" ws://{host} wss://{host}" if host else ""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "media-src 'self'",
            f"connect-src 'self'{sockets}",
            "frame-src http: https:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response (pure ASGI: streams untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = content_security_policy(safe_host(Headers(scope=scope)))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra: list[tuple[bytes, bytes]] = [
                    (b"content-security-policy", csp.encode("latin-1")),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-opener-policy", b"same-origin-allow-popups"),
                ]
                if b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                headers.extend(extra)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csrf_token(session: dict[str, Any]) -> str:
    """The session's CSRF token (made on first use); forms carry it in `csrf_token`."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def csrf_ok(session: dict[str, Any], submitted: object) -> bool:
    expected = session.get(CSRF_SESSION_KEY)
    if not isinstance(expected, str) or not isinstance(submitted, str):
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


def same_origin(headers: Headers) -> bool:
    """True when `Origin` (if the browser sent one) names this host.

    Guards the WebSockets against cross-site WebSocket hijacking: browsers send the
    cookie with a cross-site handshake, but always with the page's Origin.
    """
    origin = headers.get("origin")
    if origin is None:
        return True
    host = safe_host(headers)
    if host is None:
        return False
    return origin in (f"http://{host}", f"https://{host}")


async def receive_frame(websocket: WebSocket) -> str | bytes:
    """The next text or binary message of `websocket` (`WebSocketDisconnect` when it closed).

    `WebSocket.receive_text` raises `KeyError` on a binary frame, which would end the
    connection with an unhandled error; the pages' parsers reject bad bytes with a message.
    """
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    if isinstance(text, str):
        return text
    data = message.get("bytes")
    return data if isinstance(data, bytes) else b""


async def close_quietly(websocket: WebSocket, *, code: int = 1000) -> None:
    """Close the socket unless either side already has."""
    connected = WebSocketState.CONNECTED
    if websocket.application_state is connected and websocket.client_state is connected:
        with contextlib.suppress(WebSocketDisconnect, OSError):  # the peer went away meanwhile
            await websocket.close(code=code)


async def read_small_form(request: Request) -> FormData | None:
    """The request's form, or None when its body is larger than `MAX_FORM_BYTES` or the
    client went away before sending it all (the web port closes a body that takes longer
    than `web.limits.request_read_timeout_s`; nobody reads the answer then).

    Starlette's form parser holds an url-encoded body in memory whatever its size: read
    at most `MAX_FORM_BYTES` (any declared or chunked length) before parsing it.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        return None
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return None
    except ClientDisconnect:  # a half-sent form: not an error of ours, nothing to log
        return None
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    return await Request(request.scope, replay).form()
