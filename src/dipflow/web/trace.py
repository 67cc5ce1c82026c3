"""A call's trace for supervisors: `/supervisor/calls/<id>.json` (what the supervisor page
and the trace page fetch) and `/supervisor/calls/<id>` (the trace on a page of its own, to
keep open or link to). Layer 6 (web).

Each activity the call ran: its inputs, outputs, the output it took and its error, in
the same records `dipflow call --json` prints (`dipflow.runtime.tracing.trace_records`).
The values come from the caller and the CRM: the page inserts them with `textContent`
only (`static/trace.js`), the call id reaches the page's script in an escaped `data-`
attribute, and secure variables are already masked by the runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dipflow.runtime.notices import CallSummary
from dipflow.runtime.tracing import global_error_detail, trace_records
from dipflow.web.context import WebContext

CALLS_SEARCHED = 500
"""How far back in the runtime's recent calls a call id is looked up."""


def call_record(summary: CallSummary, variables: dict[str, str]) -> dict[str, Any]:
    """One call as the trace view shows it: the summary, the agent-visible data, the
    trace records and where the global error handler took over (or None)."""
    row = summary.to_dict()
    row["trace"] = trace_records(summary.trace)
    row["global_error_detail"] = global_error_detail(row["trace"], summary.error)
    row["variables"] = variables
    return row


def routes(ctx: WebContext, variables_of: Callable[[str], dict[str, str]]) -> list[BaseRoute]:
    """`variables_of(call_id)`: the call's agent-visible data (kept by the supervisor view
    after the runtime forgets it)."""

    def find(call_id: str) -> CallSummary | None:
        return next(
            (c for c in ctx.runtime.recent_calls(CALLS_SEARCHED) if c.call_id == call_id), None
        )

    async def call_json(request: Request) -> Response:
        refusal = ctx.supervisor_json_refusal(ctx.user(request))
        if refusal is not None:
            return refusal
        call_id = str(request.path_params["call_id"])
        summary = find(call_id)
        if summary is None:
            return JSONResponse({"error": "no such call"}, status_code=404)
        return JSONResponse(call_record(summary, variables_of(call_id)))

    async def call_page(request: Request) -> Response:
        user = ctx.user(request)
        call_id = str(request.path_params["call_id"])
        refusal = ctx.supervisor_page_refusal(request, user, next_page="/supervisor")
        if refusal is not None:
            return refusal
        found = find(call_id) is not None
        return ctx.page(
            request,
            "trace.html",
            user=user,
            call_id=call_id,
            found=found,
            status_code=200 if found else 404,
        )

    return [
        # The JSON first: `{call_id}` alone would also match "<id>.json".
        Route("/supervisor/calls/{call_id}.json", call_json, methods=["GET"]),
        Route("/supervisor/calls/{call_id}", call_page, methods=["GET"]),
    ]
