"""Assemble the emulator's Starlette application.

Routes:

- `POST /{tenant}/oauth2/v2.0/token`, `GET /{tenant}/v2.0/.well-known/openid-configuration`
- `/api/data/v9.2/...` the Web API (auth, faults)
- `/main.aspx` the record pages a screen pop opens
- `/_emulator/faults`, `/_emulator/stats`, `/_emulator/reset-stats` (admin, no auth)
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import unquote_plus

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dipflow.emulator import admin, pages
from dipflow.emulator.api import API_PREFIX, error_response, handle_data, service_document
from dipflow.emulator.auth import AuthFailure, TokenError, check_credentials, issue_token
from dipflow.emulator.demo_data import load_demo_data
from dipflow.emulator.errors import ErrorCode, ODataError
from dipflow.emulator.faults import FaultInjector, FaultKind
from dipflow.emulator.settings import EmulatorSettings, SeedKind
from dipflow.emulator.state import EmulatorState, path_label
from dipflow.emulator.store import Store

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]


def create_app(settings: EmulatorSettings | None = None) -> Starlette:
    """Build the emulator app in-process (no server); its state is `app.state.emulator`."""
    settings = settings or EmulatorSettings()
    store = Store(settings.db)
    if settings.seed is SeedKind.DEMO and store.is_empty():
        load_demo_data(store)
    state = EmulatorState(
        settings=settings,
        store=store,
        faults=FaultInjector(settings.rng_seed),
        rng=random.Random(settings.rng_seed),
    )

    async def token(request: Request) -> Response:
        apply = state.faults.config.apply_to_token and state.faults.applies("token")
        return await _with_faults(request, state, apply, lambda r: _token(r, state))

    async def data(request: Request) -> Response:
        target = re.split(r"[(/]", request.path_params["path"], maxsplit=1)[0]
        apply = state.faults.applies(target)
        return await _with_faults(request, state, apply, lambda r: _data(r, state))

    async def service(request: Request) -> Response:
        apply = state.faults.applies("")
        return await _with_faults(
            request, state, apply, lambda r: _guarded(r, state, service_document)
        )

    async def discovery(request: Request) -> Response:
        return await _openid_configuration(request, state)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    routes = [
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", discovery, methods=["GET"]),
        Route(API_PREFIX, service, methods=["GET"]),
        Route(API_PREFIX + "{path:path}", data, methods=["GET", "POST", "PATCH", "DELETE"]),
        *admin.routes(state),
        *pages.routes(state),
        Mount(
            "/_emulator/static",
            StaticFiles(packages=[("dipflow.emulator", "static")]),
            name="static",
        ),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.emulator = state
    app.add_middleware(_CountingMiddleware, state=state)
    return app


AFFINITY_COOKIE = "ARRAffinity"
"""The Azure load balancer's server-affinity cookie Dataverse sets on Web API answers."""


class _CountingMiddleware:
    """Counts every request by path label and status (pure ASGI: bodies untouched).

    Web API answers also set an `ARRAffinity` cookie, as Dataverse's load balancer does,
    and requests that send one back are counted (`affinity_requests`): Microsoft
    recommends parallel clients not to ("Send parallel requests", Server affinity)."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self._app = app
        self._state = state
        self._server = hashlib.sha256(state.settings.tenant.encode()).hexdigest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            await self._app(scope, receive, send)
            return
        stats = self._state.stats
        api = scope["path"].startswith(API_PREFIX)
        cookies = b"; ".join(v for k, v in scope.get("headers", []) if k == b"cookie")
        with stats.lock:
            stats.requests += 1
            stats.per_path[path_label(scope["path"])] += 1
            if api and AFFINITY_COOKIE.lower().encode() in cookies.lower():
                stats.affinity_requests += 1

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                with stats.lock:
                    stats.per_status[int(message["status"])] += 1
                if api:
                    server = f"{AFFINITY_COOKIE}={self._server}; Path=/; HttpOnly".encode()
                    message = {
                        **message,
                        "headers": [*message.get("headers", []), (b"set-cookie", server)],
                    }
            await send(message)

        await self._app(scope, receive, counting_send)


async def _with_faults(
    request: Request, state: EmulatorState, apply: bool, handler: Handler
) -> Response:
    """Run `handler` under the configured faults (latency, hang, error, 429, broken body)."""
    if not apply:
        return await handler(request)
    faults = state.faults
    delay = faults.latency_s() + faults.hang_s()
    if delay > 0:
        await asyncio.sleep(delay)
    failure = faults.failure()
    if failure is not FaultKind.NONE:
        with state.stats.lock:
            state.stats.faults_injected += 1
        if failure is FaultKind.THROTTLE:
            # Dataverse service protection limits: 429 with Retry-After in seconds.
            error = ODataError(
                429,
                ErrorCode.THROTTLED,
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
            )
            return error_response(error, {"Retry-After": str(faults.config.retry_after_s)})
        status = faults.config.error_status
        return error_response(
            ODataError(status, ErrorCode.UNEXPECTED, f"Injected fault: HTTP {status}.")
        )
    started = time.perf_counter()
    response = await handler(request)
    # Server-Timing (W3C): lets benchmarks split emulator time from client and network time.
    response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.3f}"
    if faults.malformed() and response.body:
        with state.stats.lock:
            state.stats.faults_injected += 1
        broken = bytes(response.body[: max(1, len(response.body) // 2)])
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(broken, status_code=response.status_code, headers=headers)
    return response


def _audience(request: Request, state: EmulatorState) -> str:
    return state.settings.audience or str(request.base_url).rstrip("/")


async def _guarded(request: Request, state: EmulatorState, handler: Handler) -> Response:
    settings = state.settings
    if settings.require_auth:
        try:
            check_credentials(
                settings,
                authorization=request.headers.get("authorization"),
                api_key=request.headers.get(settings.api_key_header) if settings.api_keys else None,
                expected_audience=_audience(request, state),
            )
        except AuthFailure as exc:
            authorize = f"{str(request.base_url).rstrip('/')}/{settings.tenant}/oauth2/authorize"
            challenge = (
                f"Bearer authorization_uri={authorize}, resource_id={_audience(request, state)}"
            )
            # Dataverse answers 401 with an empty body: the challenge names the authority
            # and the audience to ask for, and the reason rides in a `401_error_reason`
            # header (what real orgs send; clients must not expect an OData error).
            return Response(
                status_code=401,
                headers={"WWW-Authenticate": challenge, "401_error_reason": _header_safe(exc)},
            )
    try:
        return await handler(request)
    except ODataError as exc:
        return error_response(exc)
    except Exception:  # never let one bad request take the emulator down
        log.exception("emulator: unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            ODataError(500, ErrorCode.UNEXPECTED, "An unexpected error occurred.")
        )


def _header_safe(exc: Exception) -> str:
    """The failure reason as a header value: printable ASCII, one line, bounded."""
    text = "".join(c if " " <= c <= "~" else "?" for c in str(exc))
    return text[:300]


async def _data(request: Request, state: EmulatorState) -> Response:
    async def handler(r: Request) -> Response:
        return await handle_data(r, state)

    return await _guarded(request, state, handler)


async def _token(request: Request, state: EmulatorState) -> Response:
    try:
        form = await request.form()
    except Exception:  # a body that is not a form is the client's error, not ours
        error = TokenError(
            status=400, error="invalid_request", aadsts=900144, description="Malformed form body."
        )
        return JSONResponse(error.body(), status_code=400)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    basic = _client_basic(request.headers.get("authorization", ""))
    if basic is not None:
        # client_secret_basic (RFC 6749 section 2.3.1): id and secret form-urlencoded first.
        fields["client_id"], fields["client_secret"] = basic
    try:
        issued = issue_token(
            state.settings,
            tenant=request.path_params["tenant"],
            form=fields,
            expected_resource=_audience(request, state),
        )
    except TokenError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    with state.stats.lock:
        state.stats.tokens_issued += 1
    return JSONResponse(
        {
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "ext_expires_in": issued.expires_in,
            "access_token": issued.access_token,
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _client_basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if sep else None


async def _openid_configuration(request: Request, state: EmulatorState) -> Response:
    """Tenant discovery document, for OAuth libraries that look it up before the token."""
    tenant = request.path_params["tenant"]
    if tenant != state.settings.tenant:
        return JSONResponse({"error": "invalid_tenant"}, status_code=400)
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "issuer": f"{base}/{tenant}/v2.0",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "grant_types_supported": ["client_credentials"],
        }
    )
