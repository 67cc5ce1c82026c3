"""A minimal web app (health, metrics, recent calls) used when `dipflow.web` is not installed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from dipflow.runtime.runtime import Runtime


def create_fallback_app(runtime: Runtime) -> Starlette:
    async def healthz(request: Request) -> Response:
        del request
        return JSONResponse({"status": "ok", "active_calls": len(runtime.active_calls())})

    async def metrics(request: Request) -> Response:
        del request
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def calls(request: Request) -> Response:
        del request
        return JSONResponse([c.to_dict() for c in runtime.recent_calls()])

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Route("/api/calls", calls),
        ]
    )
