"""Static views of a flow that lint rules share: graphs, templates, taint. Layer 1 (flow).

Templates are parsed with Jinja2's parser only (nothing is rendered or compiled),
so the linter sees the flow exactly as written, filters it does not know included.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Environment, TemplateSyntaxError, nodes

from dipflow.flow.model import (
    ActivityBase,
    BlindTransferActivity,
    CallbackActivity,
    CaseActivity,
    CollectDigitsActivity,
    ConditionActivity,
    EventFlow,
    Flow,
    GoToActivity,
    HttpRequestActivity,
    MenuActivity,
    ParseActivity,
    PlayMessageActivity,
    Prompt,
    QueueContactActivity,
    QueueLookupActivity,
    QueueToAgentActivity,
    ScreenPopActivity,
    SetCallerIdActivity,
    SetVariableActivity,
    StartMediaStreamActivity,
    SubflowActivity,
    VirtualAgentActivity,
)

_PARSER = Environment(autoescape=False)  # noqa: S701 - parsing only, nothing is rendered
MAIN = "main"


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowGraph:
    """One graph of a flow: the main flow or an event flow."""

    name: str
    start: str
    activities: Mapping[str, ActivityBase]

    def successors(self, activity_id: str) -> dict[str, str]:
        """Output -> target, only targets that exist."""
        activity = self.activities.get(activity_id)
        if activity is None:
            return {}
        return {o: t for o, t in activity.wiring().items() if t in self.activities}

    def reachable(self) -> list[str]:
        if self.start not in self.activities:
            return []
        seen = [self.start]
        stack = [self.start]
        while stack:
            for target in self.successors(stack.pop()).values():
                if target not in seen:
                    seen.append(target)
                    stack.append(target)
        return seen

    def predecessors(self) -> dict[str, list[str]]:
        preds: dict[str, list[str]] = {a: [] for a in self.activities}
        for source in self.activities:
            for target in self.successors(source).values():
                preds[target].append(source)
        return preds


def graphs(flow: Flow) -> Iterator[FlowGraph]:
    yield FlowGraph(name=MAIN, start=flow.start, activities=flow.activities)
    for event, event_flow in flow.event_flows.items():
        yield _event_graph(str(event), event_flow)


def _event_graph(name: str, event_flow: EventFlow) -> FlowGraph:
    return FlowGraph(name=name, start=event_flow.start, activities=event_flow.activities)


def _prompt_fields(prefix: str, prompt: Prompt | None) -> list[tuple[str, str]]:
    if prompt is None:
        return []
    fields = [
        (f"{prefix}.{name}", value)
        for name, value in (
            ("text", prompt.text),
            ("language", prompt.language),
            ("voice", prompt.voice),
        )
        if value is not None
    ]
    for index, segment in enumerate(prompt.segments):
        fields += [
            (f"{prefix}.segments[{index}].{name}", value)
            for name, value in (
                ("text", segment.text),
                ("language", segment.language),
                ("voice", segment.voice),
            )
            if value is not None
        ]
    return fields


def _strings(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield prefix, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(f"{prefix}.{key}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(f"{prefix}[{index}]", item)


def template_fields(activity: ActivityBase) -> list[tuple[str, str]]:
    """(field, template) pairs of every templated field of the activity."""
    match activity:
        case SetVariableActivity():
            return list(_strings("value", activity.value))
        case HttpRequestActivity():
            fields = list(_strings("path", activity.path)) + list(_strings("url", activity.url))
            fields += list(_strings("query", activity.query))
            fields += list(_strings("headers", activity.headers))
            return fields + list(_strings("body", activity.body))
        case ConditionActivity():
            return [("expression", activity.expression)]
        case PlayMessageActivity():
            return _prompt_fields("prompt", activity.prompt)
        case MenuActivity():
            return (
                _prompt_fields("prompt", activity.prompt)
                + _prompt_fields("no_input_prompt", activity.no_input_prompt)
                + _prompt_fields("invalid_prompt", activity.invalid_prompt)
            )
        case QueueContactActivity():
            fields = [("queue", activity.queue)]
            if isinstance(activity.priority, str):
                fields.append(("priority", activity.priority))
            fields += _strings("skills", [n.model_dump() for n in activity.skills])
            fields += _strings("relaxation", [r.model_dump() for r in activity.relaxation])
            return fields
        case ScreenPopActivity():
            return [("url", activity.url), *_strings("query", activity.query)]
        case CollectDigitsActivity():
            return _prompt_fields("prompt", activity.prompt)
        case CaseActivity():
            return [("expression", activity.expression), *_strings("cases", activity.cases)]
        case ParseActivity():
            return [("input", activity.input)]
        case QueueToAgentActivity():
            fields = [("agent", activity.agent), ("reporting_queue", activity.reporting_queue)]
            fields += _strings("priority", activity.priority)
            return fields + list(_strings("recovery_queue", activity.recovery_queue))
        case QueueLookupActivity():
            return [("queue", activity.queue)]
        case VirtualAgentActivity():
            return list(_strings("parameters", activity.parameters))
        case CallbackActivity():
            fields = [("number", activity.number)]
            fields += list(_strings("caller_id", activity.caller_id))
            return fields + list(_strings("queue", activity.queue))
        case BlindTransferActivity():
            return [("destination", activity.destination)]
        case SetCallerIdActivity():
            return [("caller_id", activity.caller_id), *_strings("name", activity.name)]
        case SubflowActivity():
            return list(_strings("inputs", activity.inputs))
        case GoToActivity():
            return [("flow", activity.flow)]
        case StartMediaStreamActivity():
            return [("destination", activity.destination)]
    return []


@lru_cache(maxsize=4096)
def parse(template: str, *, bare_expression: bool = False) -> nodes.Template | None:
    """The Jinja2 AST of a template (a bare condition expression is wrapped); None if invalid."""
    source = template
    if bare_expression and "{{" not in template and "{%" not in template:
        source = "{{ " + template + " }}"
    try:
        return _PARSER.parse(source)
    except TemplateSyntaxError:
        return None


def field_ast(activity: ActivityBase, field: str, template: str) -> nodes.Template | None:
    bare = isinstance(activity, ConditionActivity) or (
        isinstance(activity, ParseActivity) and field == "input"
    )
    return parse(template, bare_expression=bare)


def names_read(tree: nodes.Template) -> set[str]:
    """Root names the template reads (`NewPhoneContact` for `NewPhoneContact.ANI`).

    Walks the AST itself: `jinja2.meta` runs the code generator, which rejects
    filters this parser-only environment does not register.
    """
    stored = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    return {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"} - stored


@dataclass(frozen=True, slots=True, kw_only=True)
class Sanitizers:
    """The filters after which a tainted value is safe in one kind of sink."""

    filters: frozenset[str]
    """Each of these alone cleans its input."""
    chains: frozenset[tuple[str, str]] = frozenset()
    """`(outer, inner)`: `x | inner | outer` is clean though neither filter is alone."""

    def clean(self, node: nodes.Filter) -> bool:
        if node.name in self.filters:
            return True
        inner = node.node
        return isinstance(inner, nodes.Filter) and (node.name, inner.name) in self.chains


def unsanitized(tree: nodes.Node, tainted: set[str], sanitizers: Sanitizers) -> set[str]:
    """Tainted names that reach the output without passing through a sanitizing filter."""
    found: set[str] = set()

    def visit(node: nodes.Node) -> None:
        if isinstance(node, nodes.Filter) and sanitizers.clean(node):
            return
        if isinstance(node, nodes.Name) and node.name in tainted:
            found.add(node.name)
        for child in node.iter_child_nodes():
            visit(child)

    visit(tree)
    return found


def variables_written(activity: ActivityBase) -> set[str]:
    if isinstance(activity, SetVariableActivity):
        return {activity.variable}
    if isinstance(activity, HttpRequestActivity | ParseActivity):
        return {output.variable for output in activity.parse}
    if isinstance(activity, SubflowActivity):
        return set(activity.returns)
    return set()
