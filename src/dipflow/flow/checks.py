"""Semantic checks of a flow document, beyond what the pydantic model can say. Layer 1 (flow).

They run on the raw data (not on a validated `Flow`), so that a file with a
schema error *and* a broken link reports both at once. Every check is
defensive about types: pydantic already reports a value of the wrong type, and
this module simply skips it.

Checks: links to missing activities, output names a kind does not have, `next`
on a kind without a default output, unwired required outputs (and unwired menu
choices), menu choices that are not 1-4 DTMF keys, `start` not naming a start
activity, event-flow `start` not in its graph, template and condition syntax,
JSONPath syntax, variables set or parsed into but never declared, variables
declared twice.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, get_args

from dipflow.flow import advice, expressions
from dipflow.flow.jsonpath import JsonPathError, compile_path
from dipflow.flow.model import DIGITS, MAX_CHOICE_KEYS, Activity, ActivityBase
from dipflow.flow.xpath import XPathError, compile_xpath

Loc = tuple[int | str, ...]
Report = Callable[..., None]
"""report(loc, message, *, activity=None, key=False, template_line=None, template_column=None)."""


def _activity_classes() -> dict[str, type[ActivityBase]]:
    union = get_args(Activity)[0]
    classes: dict[str, type[ActivityBase]] = {}
    for cls in get_args(union):
        (kind,) = get_args(cls.model_fields["kind"].annotation)
        classes[kind] = cls
    return classes


KIND_CLASSES: dict[str, type[ActivityBase]] = _activity_classes()


def suggestion(word: str, choices: Any) -> str:
    """`" (did you mean 'x'?)"` for the closest choice, or ""."""
    matches = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


_TEMPLATE_FIELDS: dict[str, tuple[str, ...]] = {
    "set_variable": ("value",),
    "http_request": ("path", "url", "query", "headers", "body"),
    "http_start": ("path", "url", "query", "headers", "body"),
    "play_message": ("prompt",),
    "menu": ("prompt", "no_input_prompt", "invalid_prompt"),
    "queue_contact": ("queue", "fallback_queue", "priority", "skills", "relaxation"),
    "screen_pop": ("url", "query"),
    "collect_digits": ("prompt",),
    "case": ("expression", "cases"),
    "queue_to_agent": ("agent", "reporting_queue", "recovery_queue", "priority"),
    "queue_lookup": ("queue",),
    "virtual_agent": ("parameters",),
    "callback": ("number", "caller_id", "queue"),
    "blind_transfer": ("destination",),
    "set_caller_id": ("caller_id", "name"),
    "subflow": ("inputs",),
    "goto": ("flow",),
    "start_media_stream": ("destination",),
}
"""Fields whose strings (at any depth) are templates, by activity kind."""

_PROMPT_TEMPLATE_KEYS = frozenset({"text", "audio", "language", "voice", "segments"})


def _strings(value: Any, loc: Loc, *, prompt: bool = False) -> Iterator[tuple[Loc, str]]:
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if prompt and key not in _PROMPT_TEMPLATE_KEYS:
                continue
            yield from _strings(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*loc, index))


def _check_template(
    report: Report, loc: Loc, text: str, activity: str | None, *, expression: bool
) -> None:
    try:
        expressions.check(text, expression=expression)
        failures: list[tuple[str, int | None]] = [
            (message, None)
            for message in expressions.unknown_filters_and_tests(text, expression=expression)
        ]
    except expressions.ExpressionError as exc:
        failures = [(exc.message, exc.line)]
    what = "condition" if expression else "expression"
    for message, line in failures:
        plain = advice.expression_advice(
            text,
            message,
            expression=expression,
            compiles=_compiles,
            names={"filter": expressions.filter_names(), "test": expressions.test_names()},
        )
        column = None
        if plain is not None and plain.offset is not None:
            before = text[: plain.offset]
            line = before.count("\n") + 1
            column = plain.offset - (before.rfind("\n") + 1) + 1
        report(
            loc,
            f"bad {what} in `{loc[-1]}`: {plain.message if plain else message}",
            activity=activity,
            template_line=line,
            template_column=column,
        )


def _compiles(template: str) -> bool:
    try:
        expressions.check(template)
    except expressions.ExpressionError:
        return False
    return True


def check_templates(
    report: Report, loc: Loc, ident: str, kind: str, raw: Mapping[str, Any]
) -> None:
    for name in _TEMPLATE_FIELDS.get(kind, ()):
        value = raw.get(name)
        for string_loc, text in _strings(value, (*loc, name), prompt=name.endswith("prompt")):
            _check_template(report, string_loc, text, ident, expression=False)
    if kind == "condition" and isinstance(raw.get("expression"), str):
        _check_template(report, (*loc, "expression"), raw["expression"], ident, expression=True)
    if kind == "parse" and isinstance(raw.get("input"), str):
        _check_template(report, (*loc, "input"), raw["input"], ident, expression=True)


def _check_http_parse(
    report: Report, loc: Loc, ident: str, raw: Mapping[str, Any], variables: set[str] | None
) -> None:
    parse = raw.get("parse")
    if not isinstance(parse, list):
        return
    xml = raw.get("kind") == "parse" and str(raw.get("content_type", "json")).lower() == "xml"
    for index, item in enumerate(parse):
        if not isinstance(item, Mapping):
            continue
        path = item.get("path")
        if isinstance(path, str):
            try:
                if xml:
                    compile_xpath(path)
                else:
                    compile_path(path)
            except XPathError as exc:
                report((*loc, "parse", index, "path"), exc.message, activity=ident)
            except JsonPathError as exc:
                message = advice.jsonpath_advice(path) or exc.message
                report((*loc, "parse", index, "path"), message, activity=ident)
        _check_variable(report, (*loc, "parse", index, "variable"), ident, item, variables)


def _check_variable(
    report: Report, loc: Loc, ident: str, raw: Mapping[str, Any], variables: set[str] | None
) -> None:
    name = raw.get("variable")
    if variables is None or not isinstance(name, str) or name in variables:
        return
    report(
        loc,
        f"unknown variable `{name}`{suggestion(name, variables)}: declare it under `variables`",
        activity=ident,
    )


def _outputs(cls: type[ActivityBase], raw: Mapping[str, Any]) -> tuple[str, ...]:
    return (*cls.instance_outputs(raw), *cls.outputs)


def _check_wiring(
    report: Report,
    loc: Loc,
    ident: str,
    kind: str,
    raw: Mapping[str, Any],
    cls: type[ActivityBase],
    ids: Mapping[str, Any],
) -> None:
    outputs = _outputs(cls, raw)
    wired: dict[str, Any] = {}
    on = raw.get("on")
    if isinstance(on, Mapping):
        for output, target in on.items():
            if output not in outputs:
                listed = ", ".join(outputs) or "none"
                report(
                    (*loc, "on", output),
                    f"{article(kind)} {kind} has no output `{output}`{suggestion(output, outputs)};"
                    f" its outputs: {listed}",
                    activity=ident,
                    key=True,
                )
            wired[output] = target
            _check_link(report, (*loc, "on", output), ident, target, ids, f"`on.{output}`")
    target = raw.get("next")
    if target is not None:
        if cls.default_output is None:
            report(
                (*loc, "next"),
                f"`next` is not allowed on a {kind}: wire its outputs with `on`",
                activity=ident,
                key=True,
            )
        else:
            wired.setdefault(cls.default_output, target)
            _check_link(report, (*loc, "next"), ident, target, ids, "`next`")
    required = list(cls.required_outputs)
    choices = raw.get("choices")
    if kind == "menu" and isinstance(choices, Mapping):
        for digit in choices:
            keys = str(digit)
            if not 1 <= len(keys) <= MAX_CHOICE_KEYS or any(k not in DIGITS for k in keys):
                report(
                    (*loc, "choices", digit),
                    f"menu choice `{digit}` is not 1 to {MAX_CHOICE_KEYS} keys of "
                    f"{' '.join(DIGITS)}",
                    activity=ident,
                    key=True,
                )
            else:
                required.append(keys)
    cases = raw.get("cases")
    if kind == "case" and isinstance(cases, Mapping):
        required.extend(str(key) for key in cases)
    if kind == "split":  # every branch a share of the calls takes must lead somewhere
        required.extend(cls.instance_outputs(raw))
    for output in required:
        if output not in wired:
            report(loc, f"output `{output}` is not wired", activity=ident, key=True)


def _check_link(
    report: Report, loc: Loc, ident: str, target: Any, ids: Mapping[str, Any], what: str
) -> None:
    if isinstance(target, str) and target not in ids:
        report(
            loc,
            f"{what} links to missing activity '{target}'{suggestion(target, ids)}",
            activity=ident,
        )


def check_graph(
    report: Report,
    activities: Any,
    loc: Loc,
    *,
    variables: set[str] | None,
) -> None:
    """Check every activity of one graph (the main flow or an event flow)."""
    if not isinstance(activities, Mapping):
        return
    for ident, raw in activities.items():
        if not isinstance(raw, Mapping):
            continue
        kind = raw.get("kind")
        cls = KIND_CLASSES.get(kind) if isinstance(kind, str) else None
        if cls is None or not isinstance(kind, str):
            continue  # pydantic reports the unknown kind
        act_loc = (*loc, ident)
        _check_wiring(report, act_loc, ident, kind, raw, cls, activities)
        check_templates(report, act_loc, ident, kind, raw)
        if kind in ("http_request", "http_start", "parse"):
            _check_http_parse(report, act_loc, ident, raw, variables)
        if kind == "http_join":
            _check_join(report, act_loc, ident, raw, activities)
        if kind == "set_variable":
            _check_variable(report, (*act_loc, "variable"), ident, raw, variables)


def _check_join(
    report: Report, loc: Loc, ident: str, raw: Mapping[str, Any], activities: Mapping[str, Any]
) -> None:
    """An `http_join` names an `http_start` of the same graph (requests do not cross
    between the main flow and event flows)."""
    request = raw.get("request")
    if not isinstance(request, str):
        return  # pydantic reports a missing or mistyped `request`
    target = activities.get(request)
    kind = target.get("kind") if isinstance(target, Mapping) else None
    if kind != "http_start":
        what = "is not an activity of this flow" if target is None else f"is of kind {kind}"
        report(
            (*loc, "request"),
            f"`request` must name an http_start; '{request}' {what}"
            f"{suggestion(request, activities) if target is None else ''}",
            activity=ident,
        )


def _declared_variables(report: Report, raw: Any) -> set[str] | None:
    if not isinstance(raw, list):
        return set() if raw is None else None
    names: set[str] = set()
    for index, item in enumerate(raw):
        name = item.get("name") if isinstance(item, Mapping) else None
        if not isinstance(name, str):
            continue
        if name in names:
            report(("variables", index, "name"), f"variable `{name}` is declared twice")
        names.add(name)
    return names


def check_document(report: Report, data: Mapping[str, Any]) -> None:
    """Every semantic check of a whole flow document (a mapping)."""
    variables = _declared_variables(report, data.get("variables"))
    activities = data.get("activities")
    check_graph(report, activities, ("activities",), variables=variables)
    start = data.get("start")
    if isinstance(start, str) and isinstance(activities, Mapping):
        if start not in activities:
            report(
                ("start",),
                f"`start` names '{start}', which is not an activity{suggestion(start, activities)}",
            )
        else:
            first = activities[start]
            kind = first.get("kind") if isinstance(first, Mapping) else None
            if kind != "start":
                report(
                    ("start",),
                    f"`start` must name a `start` activity; '{start}' is a {kind}",
                    activity=start,
                )
    settings = data.get("settings")
    if isinstance(settings, Mapping):
        for name in ("apology_prompt", "language", "voice"):
            if isinstance(settings.get(name), str):
                _check_template(report, ("settings", name), settings[name], None, expression=False)
    event_flows = data.get("event_flows")
    if not isinstance(event_flows, Mapping):
        return
    for name, event_flow in event_flows.items():
        if not isinstance(event_flow, Mapping):
            continue
        graph = event_flow.get("activities")
        check_graph(report, graph, ("event_flows", name, "activities"), variables=variables)
        event_start = event_flow.get("start")
        if isinstance(event_start, str) and isinstance(graph, Mapping) and event_start not in graph:
            report(
                ("event_flows", name, "start"),
                f"event flow `{name}` starts at '{event_start}', which is not one of its"
                f" activities{suggestion(event_start, graph)}",
            )
