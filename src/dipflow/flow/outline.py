"""A readable outline of a flow: activities in the order a call meets them. Layer 1 (flow).

Pure data for `dipflow flow show` (and any UI): each graph lists its activities
breadth-first from its start, then the ones nothing reaches, each with a
one-line summary and its wiring.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from dipflow.flow.model import (
    ActivityBase,
    BlindTransferActivity,
    BusinessHoursActivity,
    CallbackActivity,
    CaseActivity,
    CollectDigitsActivity,
    ConditionActivity,
    DisconnectActivity,
    FeedbackActivity,
    Flow,
    HttpRequestActivity,
    MenuActivity,
    ParseActivity,
    PlayMessageActivity,
    PlayMusicActivity,
    Prompt,
    QueueContactActivity,
    QueueLookupActivity,
    QueueToAgentActivity,
    ScreenPopActivity,
    SetCallerIdActivity,
    SetVariableActivity,
    UnsupportedActivity,
    VirtualAgentActivity,
)

SUMMARY_WIDTH = 70


@dataclass(frozen=True, slots=True, kw_only=True)
class OutlineItem:
    ident: str
    kind: str
    summary: str
    wiring: tuple[tuple[str, str], ...]
    """(output, target id) pairs."""
    reachable: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphOutline:
    title: str
    start: str
    items: tuple[OutlineItem, ...]


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SUMMARY_WIDTH else flat[: SUMMARY_WIDTH - 1] + "…"


def _prompt(prompt: Prompt) -> str:
    if prompt.text:
        return f'say "{_short(prompt.text)}"'
    if prompt.audio:
        return f"play {prompt.audio}"
    return "say nothing (empty prompt)"


def summary(activity: ActivityBase) -> str:
    """One line saying what the activity does."""
    if isinstance(activity, SetVariableActivity):
        return _short(f"{activity.variable} = {activity.value!r}")
    if isinstance(activity, HttpRequestActivity):
        target = f"{activity.connector}:{activity.path}" if activity.connector else activity.url
        parsed = ", ".join(f"{out.variable} <- {out.path}" for out in activity.parse)
        return _short(f"{activity.method.value} {target}" + (f"; {parsed}" if parsed else ""))
    if isinstance(activity, ConditionActivity):
        return _short(f"if {activity.expression}")
    if isinstance(activity, PlayMessageActivity):
        return _prompt(activity.prompt)
    if isinstance(activity, MenuActivity):
        keys = ", ".join(f"{digit}={what}" for digit, what in activity.choices.items())
        return _short(f"{_prompt(activity.prompt)}; keys {keys}")
    if isinstance(activity, QueueContactActivity):
        return _short(f"queue to {activity.queue}")
    if isinstance(activity, PlayMusicActivity):
        length = f" for {activity.duration_s:g} s" if activity.duration_s else ""
        return f"music {activity.audio}{length}"
    if isinstance(activity, DisconnectActivity):
        return f"hang up ({activity.reason})"
    if isinstance(activity, ScreenPopActivity):
        return _short(f"pop {activity.url}")
    if isinstance(activity, UnsupportedActivity):
        return f"unsupported {activity.original_kind}"
    return _more(activity) or activity.label or ""


def _more(activity: ActivityBase) -> str:
    """Summaries of the activities Webex exports brought in."""
    if isinstance(activity, CollectDigitsActivity):
        size = f"{activity.min_digits}-{activity.max_digits} digits"
        end = f", ends with {activity.terminator}" if activity.terminator else ""
        return _short(f"{_prompt(activity.prompt)}; {size}{end}")
    if isinstance(activity, CaseActivity):
        cases = ", ".join(f"{key}={value}" for key, value in activity.cases.items())
        return _short(f"case {activity.expression}: {cases}")
    if isinstance(activity, ParseActivity):
        parsed = ", ".join(f"{out.variable} <- {out.path}" for out in activity.parse)
        return _short(f"parse {activity.input} ({activity.content_type.value}): {parsed}")
    if isinstance(activity, QueueToAgentActivity):
        return _short(f"queue to agent {activity.agent} (reported in {activity.reporting_queue})")
    if isinstance(activity, QueueLookupActivity):
        return _short(f"statistics of {activity.queue}")
    if isinstance(activity, VirtualAgentActivity):
        return _short(f"virtual agent {activity.connector or '(no connector)'}")
    if isinstance(activity, CallbackActivity):
        return _short(f"call back {activity.number}")
    if isinstance(activity, BlindTransferActivity):
        return _short(f"transfer to {activity.destination}")
    if isinstance(activity, SetCallerIdActivity):
        return _short(f"caller id {activity.caller_id}")
    if isinstance(activity, BusinessHoursActivity):
        if activity.schedule is None:
            return f"business hours (schedule {activity.schedule_id})"
        return f"business hours ({activity.schedule.timezone})"
    if isinstance(activity, FeedbackActivity):
        return f"offer the survey {activity.survey}"
    return ""


def outline_graph(title: str, start: str, activities: Mapping[str, ActivityBase]) -> GraphOutline:
    order: list[str] = []
    seen: set[str] = set()
    queue: deque[str] = deque([start])
    while queue:
        ident = queue.popleft()
        if ident in seen or ident not in activities:
            continue
        seen.add(ident)
        order.append(ident)
        queue.extend(activities[ident].wiring().values())
    unreachable = [ident for ident in activities if ident not in seen]
    items = tuple(
        OutlineItem(
            ident=ident,
            kind=activities[ident].kind,
            summary=summary(activities[ident]),
            wiring=tuple(activities[ident].wiring().items()),
            reachable=ident in seen,
        )
        for ident in (*order, *unreachable)
    )
    return GraphOutline(title=title, start=start, items=items)


def outline(flow: Flow) -> list[GraphOutline]:
    """The main graph, then each event flow."""
    graphs = [outline_graph("main flow", flow.start, flow.activities)]
    for event, event_flow in flow.event_flows.items():
        graphs.append(outline_graph(f"on {event.value}", event_flow.start, event_flow.activities))
    return graphs
