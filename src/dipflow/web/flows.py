"""The flows this node runs: `/flows` lists them with their lint findings and diagrams,
`/flows/<n>.svg` draws flow n (supervisors only).

Flows are read once from the configuration's bindings, the same files the runtime
loaded, and drawn by `dipflow.flow.graph` (no network, no Graphviz). The SVG is an
image (`<img src>`): an SVG document shown that way runs no script, whatever a flow's
labels hold, and the renderer escapes them anyway. Layer 6 (web).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dipflow.flow.errors import FlowError
from dipflow.flow.graph import to_svg
from dipflow.flow.lint import Finding, Severity, lint_flow
from dipflow.flow.loader import load_flow
from dipflow.flow.model import Flow
from dipflow.runtime.runtime import Runtime, resolve_flow_path
from dipflow.web.context import WebContext


@dataclass(frozen=True, slots=True, kw_only=True)
class ServedFlow:
    index: int
    reference: str
    """The binding's flow: a bundled name or a file."""
    dnis: str
    flow: Flow | None
    error: str | None
    findings: list[Finding]
    """Lint warnings and errors (info left out: the page is for what needs fixing)."""


class FlowCatalogue:
    """The configured flows, loaded on first use (the runtime has validated them)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._flows: list[ServedFlow] | None = None
        self._svg: dict[int, str] = {}

    def flows(self) -> list[ServedFlow]:
        if self._flows is None:
            config = self._runtime.config
            served = []
            for index, binding in enumerate(config.flows):
                dnis = "every number" if binding.dnis == "*" else ", ".join(binding.dnis)
                flow: Flow | None = None
                error: str | None = None
                try:
                    flow = load_flow(resolve_flow_path(binding.flow, config.base_dir))
                # Shown on the page (the runtime refuses to start with it anyway): a bundled
                # name that does not exist, a file that is gone or no longer a valid flow.
                except (FlowError, LookupError, OSError) as exc:
                    error = str(exc)
                findings = lint_flow(flow, minimum=Severity.WARNING) if flow else []
                served.append(
                    ServedFlow(
                        index=index,
                        reference=binding.flow,
                        dnis=dnis,
                        flow=flow,
                        error=error,
                        findings=findings,
                    )
                )
            self._flows = served
        return self._flows

    def svg(self, index: int) -> str | None:
        flows = self.flows()
        if not 0 <= index < len(flows) or flows[index].flow is None:
            return None
        if index not in self._svg:
            flow = flows[index].flow
            assert flow is not None
            self._svg[index] = to_svg(flow)
        return self._svg[index]


def routes(ctx: WebContext) -> list[BaseRoute]:
    catalogue = FlowCatalogue(ctx.runtime)

    async def page(request: Request) -> Response:
        user = ctx.user(request)
        refusal = ctx.supervisor_page_refusal(request, user, next_page="/flows")
        if refusal is not None:
            return refusal
        return ctx.page(request, "flows.html", user=user, flows=catalogue.flows())

    async def diagram(request: Request) -> Response:
        user = ctx.user(request)
        if user is None or not user.is_supervisor:
            return JSONResponse({"error": "supervisors only"}, status_code=403)
        svg = catalogue.svg(int(request.path_params["index"]))
        if svg is None:
            return JSONResponse({"error": "no such flow"}, status_code=404)
        return Response(svg, media_type="image/svg+xml")

    return [
        Route("/flows", page, methods=["GET"]),
        Route("/flows/{index:int}.svg", diagram, methods=["GET"]),
    ]
