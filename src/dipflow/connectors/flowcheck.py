"""The requests a flow sends for a test caller, derived through the engine. Layer 3 (connectors).

`dipflow crm check` must test what the flow will really send, not a hand-built twin:
this runs the flow's own activities in the engine for a test number, carries out
each HTTP request on the connector (so a follow-up request, such as the B2B company
case, depends on the org's real answer), answers every prompt at once, and stops
where the caller would be asked for input or queued.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dipflow.engine import Engine
from dipflow.engine.commands import (
    CallFinished,
    Disconnect,
    Enqueue,
    HttpRequest,
    Play,
    PlayMusic,
)
from dipflow.engine.events import CallStarted, Event, HttpCompleted, PromptDone
from dipflow.flow.model import Flow, HttpRequestActivity

MAX_STEPS = 200
"""A flow that never waits nor queues is cut off here (a loop of prompts)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowUnderTest:
    """A flow as a deployment runs it: its label, the flow, and its variables."""

    label: str
    flow: Flow
    variables: Mapping[str, Any]


def uses_connector(flow: Flow, name: str) -> bool:
    """Does any HTTP request of the flow (main flow or event flows) go to `name`?"""
    graphs = [flow.activities, *(event_flow.activities for event_flow in flow.event_flows.values())]
    return any(
        isinstance(activity, HttpRequestActivity) and activity.connector == name
        for graph in graphs
        for activity in graph.values()
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowExchange:
    """One request the flow sent, and what the org answered."""

    request: HttpRequest
    completed: HttpCompleted


async def flow_exchanges(
    flow: Flow,
    variables: Mapping[str, Any],
    ani: str,
    execute: Callable[[HttpRequest], Awaitable[HttpCompleted]],
    *,
    dnis: str = "+18005550100",
) -> list[FlowExchange]:
    """Run `flow` for a caller `ani` until it waits for input or queues the call."""
    engine = Engine(flow, variables=variables)
    state, commands = engine.start(
        CallStarted(call_id="crm-check", ani=ani, dnis=dnis, channel="check"), 0.0
    )
    exchanges: list[FlowExchange] = []
    pending = list(commands)
    now = 0.0
    for _ in range(MAX_STEPS):
        event: Event | None = None
        while pending and event is None:
            command = pending.pop(0)
            if isinstance(command, HttpRequest):
                completed = await execute(command)
                exchanges.append(FlowExchange(request=command, completed=completed))
                event = completed
            elif isinstance(command, Play | PlayMusic):
                event = PromptDone(prompt_id=command.prompt_id)
            elif isinstance(command, Enqueue | Disconnect | CallFinished):
                return exchanges  # the caller is queued or let go
            # Timers (an HTTP budget, a menu's entry timeout) never fire here: the org
            # answers each request at once, and a flow waiting for a digit has nothing
            # left to send.
        if event is None:
            return exchanges  # waiting for the caller (a menu) or a timer
        now += 0.001
        state, commands = engine.step(state, event, now)
        pending.extend(commands)
    return exchanges
