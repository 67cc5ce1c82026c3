"""The admin API tests and benchmarks use to steer a running emulator.

Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import json

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dipflow.emulator.faults import FaultConfig
from dipflow.emulator.state import EmulatorState


def routes(state: EmulatorState) -> list[Route]:
    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = json.loads(await request.body() or b"{}")
                state.faults.set(FaultConfig.model_validate(body))
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                return JSONResponse({"error": "the body is not valid JSON"}, status_code=400)
            except ValidationError as exc:
                detail = json.loads(exc.json(include_url=False, include_input=False))
                return JSONResponse({"error": "invalid fault settings", "detail": detail}, 400)
        elif request.method == "DELETE":
            state.faults.clear()
        return JSONResponse(state.faults.config.model_dump(mode="json"))

    async def stats(request: Request) -> Response:
        snapshot = state.stats.snapshot()
        if request.query_params.get("records") == "true":
            # COUNT(*) walks whole tables: opt-in, so polling stats during a benchmark
            # does not stall the event loop on a million-row database.
            snapshot["records"] = state.store.counts()
        return JSONResponse(snapshot)

    async def reset_stats(request: Request) -> Response:
        state.stats.reset()
        return JSONResponse(state.stats.snapshot())

    return [
        Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/stats", stats, methods=["GET"]),
        Route("/_emulator/reset-stats", reset_stats, methods=["POST"]),
    ]
