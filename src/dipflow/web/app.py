"""`create_app(runtime)`: the HTTP app of a dipflow node.

    /desktop, /login, /logout, /desktop/ws   agent desktop (dipflow.web.desktop)
    /supervisor, /supervisor/state.json      supervisor view (dipflow.web.supervisor)
    /flows, /flows/<n>.svg                   served flows: lint findings and diagrams
    /phone, /phone/ws, /media/<key>/<mac>.wav  browser caller (dipflow.web.phone)
    /metrics                                 Prometheus exposition of the runtime's registry
    /healthz                                 liveness
    /static/...                              the pages' CSS and JS (shipped in the package)

The runtime's lifecycle belongs to the caller (`dipflow serve` starts and stops
it); the app only subscribes to its notifications, at creation, so that it also
works when mounted inside another ASGI app (whose lifespan would not reach it).
Layer 6 (web): the command line builds it (`dipflow.cli.server`), never the runtime.
"""

from __future__ import annotations

import secrets

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dipflow.runtime.runtime import Runtime
from dipflow.web import desktop, flows, phone, supervisor
from dipflow.web.auth import UserDirectory
from dipflow.web.context import STATIC_DIR, WebContext, make_templates
from dipflow.web.hosts import HostGuardMiddleware, HostPolicy, allowed_host_names
from dipflow.web.hub import DesktopHub
from dipflow.web.mediagrant import MediaGrants
from dipflow.web.presence import Presence
from dipflow.web.security import SecurityHeadersMiddleware
from dipflow.web.sessions import SessionTable
from dipflow.web.throttle import LoginThrottle

SESSION_COOKIE = "dipflow_session"


def _session_secret(runtime: Runtime) -> str:
    configured = runtime.config.web.session_secret
    if configured is not None and configured.get_secret_value():
        return configured.get_secret_value()
    # No secret configured: sessions are valid until this process restarts.
    return secrets.token_urlsafe(32)


def create_app(
    runtime: Runtime,
    *,
    throttle: LoginThrottle | None = None,
    sessions: SessionTable | None = None,
) -> Starlette:
    """The web app for `runtime` (`throttle` and `sessions` may be given, e.g. with a test
    clock; by default they follow `web.login` and `web.sessions`)."""
    web = runtime.config.web
    hub = DesktopHub(runtime)
    hub.start()
    presence = Presence(runtime.center, grace_s=web.presence_grace_s)
    presence.start()
    secret = _session_secret(runtime)
    ctx = WebContext(
        runtime=runtime,
        users=UserDirectory(list(runtime.config.users)),
        throttle=throttle if throttle is not None else LoginThrottle(web.login),
        hub=hub,
        templates=make_templates(),
        sessions=sessions if sessions is not None else SessionTable(web.sessions),
        presence=presence,
        media=MediaGrants(secret),
    )

    async def home(request: Request) -> Response:
        del request
        return RedirectResponse("/desktop", status_code=307)

    async def healthz(request: Request) -> Response:
        del request
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        del request
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    routes: list[BaseRoute] = [
        Route("/", home, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *desktop.routes(ctx),
        *supervisor.routes(ctx),
        *flows.routes(ctx),
        *phone.routes(ctx),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    public_url = web.public_url or ""
    middleware = [
        Middleware(SecurityHeadersMiddleware),
        Middleware(HostGuardMiddleware, policy=HostPolicy(allowed_host_names(web))),
        Middleware(
            SessionMiddleware,
            secret_key=secret,
            session_cookie=SESSION_COOKIE,
            # The cookie outlives no session; the table decides (dipflow.web.sessions).
            max_age=int(web.sessions.max_age_s),
            same_site="lax",
            https_only=public_url.startswith("https://"),
        ),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.web = ctx
    return app
