"""The supervisor view: `/supervisor` (the page) and `/supervisor/state.json` (what it polls);
a call's trace is `dipflow.web.trace`'s.

Only users with role `supervisor` see it. The JSON holds the queues (waiting callers
with their wait, the longest wait), the agents (state, reason, time in state) and
the recent calls with their traces (secure values already masked by the runtime).
Layer 6 (web).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dipflow.center.errors import CenterError
from dipflow.runtime.centerlink import center_failure_level
from dipflow.web import trace
from dipflow.web.context import WebContext

log = logging.getLogger("dipflow.web.supervisor")

RECENT_CALLS_SHOWN = 30
_REMEMBERED_CALLS = 500


class CallDataMemory:
    """Agent-visible data of calls, kept after they end (the runtime forgets live data)."""

    def __init__(self) -> None:
        self._data: OrderedDict[str, dict[str, str]] = OrderedDict()

    def remember(self, call_id: str, variables: dict[str, str]) -> None:
        self._data[call_id] = variables
        self._data.move_to_end(call_id)
        while len(self._data) > _REMEMBERED_CALLS:
            self._data.popitem(last=False)

    def get(self, call_id: str) -> dict[str, str]:
        return self._data.get(call_id, {})


_NAME_LABELS = ("customer", "caller", "contact")


def _caller_name(variables: dict[str, str]) -> str | None:
    """The caller's name among agent-visible data (same rule as the desktop's JS)."""
    for label, value in variables.items():
        cleaned = label.strip().lower()
        if value and ("name" in cleaned or cleaned in _NAME_LABELS):
            return value
    return None


async def supervisor_state(ctx: WebContext, memory: CallDataMemory) -> dict[str, Any]:
    runtime = ctx.runtime
    snapshot = await runtime.center.snapshot()
    taken_at = snapshot.taken_at

    def call_variables(call_id: str) -> dict[str, str]:
        data = runtime.call_data(call_id)
        if data is not None:
            memory.remember(call_id, dict(data.variables))
        return memory.get(call_id)

    def ani_of(call_id: str) -> str | None:
        data = runtime.call_data(call_id)
        return data.ani if data is not None else None

    queues = [
        {
            "name": q.name,
            "waiting": [
                {
                    "call_id": w.call_id,
                    "position": w.position,
                    "waited_s": round(w.waited_s, 1),
                    "ani": ani_of(w.call_id),
                    "caller": _caller_name(call_variables(w.call_id)),
                }
                for w in q.waiting
            ],
            "offered": q.offered,
            "longest_wait_s": round(q.longest_wait_s, 1),
            "agents_available": q.agents_available,
            "agents_staffed": q.agents_staffed,
        }
        for q in snapshot.queues
    ]
    agents = [
        {
            "agent_id": a.agent_id,
            "name": a.name,
            "state": str(a.state),
            "reason": a.reason,
            # An agent nobody has logged in yet has no start time (since == 0).
            "in_state_s": round(max(0.0, taken_at - a.since), 1) if a.since > 0 else None,
            "call_id": a.call_id,
        }
        for a in snapshot.agents
    ]
    calls = []
    now = time.time()
    for summary in runtime.recent_calls(RECENT_CALLS_SHOWN):
        variables = call_variables(summary.call_id)
        row = summary.to_dict()
        # Traces are fetched when a call is expanded (they can be tens of kB per call).
        row["steps"] = len(row.pop("trace"))
        row.pop("path")
        end = summary.ended_at if summary.ended_at is not None else now
        row["duration_s"] = round(max(0.0, end - summary.started_at), 1)
        row["variables"] = variables
        row["caller"] = _caller_name(variables)
        calls.append(row)
    trunks = runtime.status("trunks")  # SIP trunks and their registrations (docs/trunks.md)
    return {"taken_at": now, "queues": queues, "agents": agents, "calls": calls, "trunks": trunks}


def routes(ctx: WebContext) -> list[BaseRoute]:
    memory = CallDataMemory()

    async def page(request: Request) -> Response:
        user = ctx.user(request)
        refusal = ctx.supervisor_page_refusal(request, user, next_page="/supervisor")
        if refusal is not None:
            return refusal
        return ctx.page(request, "supervisor.html", user=user)

    async def state(request: Request) -> Response:
        refusal = ctx.supervisor_json_refusal(ctx.user(request))
        if refusal is not None:
            return refusal
        try:
            return JSONResponse(await supervisor_state(ctx, memory))
        except CenterError as exc:  # the store is down: the page says so and polls again
            log.log(center_failure_level(exc), "supervisor state: %s", exc)
            return JSONResponse({"error": "the contact center is unavailable"}, status_code=503)

    async def to_supervisor(request: Request) -> Response:
        del request
        return RedirectResponse("/supervisor", status_code=307)

    return [
        Route("/supervisor", page, methods=["GET"]),
        Route("/supervisor/", to_supervisor, methods=["GET"]),
        Route("/supervisor/state.json", state, methods=["GET"]),
        *trace.routes(ctx, memory.get),
    ]
