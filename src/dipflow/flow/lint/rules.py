"""Lint rules: each takes the flow and yields findings, `RULES` in report order. Layer 1 (flow).

The rules catch what makes a flow fail callers in production; each of the Webex
template's seven defects (../shared/webex/README.md) is one of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, urlsplit

from jinja2 import nodes

from dipflow.flow.lint.analysis import (
    MAIN,
    FlowGraph,
    Sanitizers,
    field_ast,
    graphs,
    names_read,
    template_fields,
    unsanitized,
    variables_written,
)
from dipflow.flow.lint.findings import Finding, Severity
from dipflow.flow.model import (
    ConditionActivity,
    Flow,
    HttpRequestActivity,
    MenuActivity,
    PlayMusicActivity,
    QueueContactActivity,
    ScreenPopActivity,
    SetVariableActivity,
)

Rule = Callable[[Flow], Iterator[Finding]]

BUILTIN_ROOTS = frozenset(
    {"NewPhoneContact", "Queue", "Agent", "Event", "Error", "range", "loop", "namespace", "dict"}
)
CALLER_ROOTS = frozenset({"NewPhoneContact"})
# Filters after which caller data is safe inside an HTTP request.
SANITIZERS = Sanitizers(
    filters=frozenset(
        {
            "odata_quote",
            "odata_phone_filter",
            "urlencode",
            "e164",
            "int",
            "float",
            "dynamics_extraqs",
        }
    )
)
# Inside a URL the request sends as written (an OData query in `path`/`url`), `%27` in a
# value becomes a quote at the server and `&`/`#` end the parameter: only these filters'
# output (no `%`, `&`, `#`, `'`) or `odata_quote | urlencode` are safe there.
URL_SANITIZERS = Sanitizers(
    filters=frozenset({"odata_phone_filter", "e164", "int", "float"}),
    chains=frozenset({("urlencode", "odata_quote")}),
)
SENTINELS = frozenset({"na", "n/a", "null", "none", "undefined", "nil", "-", ""})
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _finding(
    rule: str, severity: Severity, graph: FlowGraph, activity: str | None, message: str, hint: str
) -> Finding:
    return Finding(
        rule=rule, severity=severity, flow=graph.name, activity=activity, message=message, hint=hint
    )


# Outputs whose absence drops or strands the caller, by kind, with their severity.
_FAILURE_OUTPUTS: dict[str, tuple[tuple[str, Severity], ...]] = {
    "http_request": (("error", Severity.ERROR),),
    "queue_contact": (("error", Severity.WARNING),),
    "menu": (("no_input", Severity.WARNING), ("invalid", Severity.WARNING)),
    "condition": (("error", Severity.INFO),),
    "play_message": (("error", Severity.INFO),),
}


def unwired_failure_outputs(flow: Flow) -> Iterator[Finding]:
    """Defect 3: a CRM outage falls to the global error handler, which may end the call."""
    for graph in graphs(flow):
        for activity_id in graph.reachable():
            activity = graph.activities[activity_id]
            wired = activity.wiring()
            for output, severity in _FAILURE_OUTPUTS.get(activity.kind, ()):
                if output not in wired:
                    yield _finding(
                        "unwired-failure",
                        severity,
                        graph,
                        activity_id,
                        f"output `{output}` is not wired: a failure here goes to the global "
                        "error handler",
                        f"wire `on: {{{output}: ...}}` to a path that still serves the caller "
                        "(a generic greeting, then the queue)",
                    )


def unreachable(flow: Flow) -> Iterator[Finding]:
    for graph in graphs(flow):
        reached = set(graph.reachable())
        for activity_id in graph.activities:
            if activity_id not in reached:
                yield _finding(
                    "unreachable",
                    Severity.WARNING,
                    graph,
                    activity_id,
                    "no path from the flow's start reaches this activity",
                    "wire an output to it, or delete it",
                )


def unknown_or_unset_variables(flow: Flow) -> Iterator[Finding]:
    """Names no flow variable, activity or built-in defines; variables read before any write."""
    activity_ids = {a for graph in graphs(flow) for a in graph.activities}
    declared = {v.name: v for v in flow.variables}
    known = BUILTIN_ROOTS | activity_ids | set(declared)
    for graph in graphs(flow):
        written_before = _written_before(graph) if graph.name == MAIN else {}
        for activity_id in graph.reachable():
            activity = graph.activities[activity_id]
            for field, template in template_fields(activity):
                tree = field_ast(activity, field, template)
                if tree is None:
                    continue
                for name in sorted(names_read(tree)):
                    if name not in known:
                        yield _finding(
                            "unknown-name",
                            Severity.ERROR,
                            graph,
                            activity_id,
                            f"`{field}` reads `{name}`, which no variable or activity defines",
                            "declare it under `variables:` or fix the spelling",
                        )
                    elif (
                        name in declared
                        and declared[name].default is None
                        and activity_id in written_before
                        and name not in written_before[activity_id]
                    ):
                        yield _finding(
                            "read-before-write",
                            Severity.WARNING,
                            graph,
                            activity_id,
                            f"`{field}` reads `{name}`, which has no default and may not be "
                            "set yet on some path",
                            f"give `{name}` a default, or set it on every path before this",
                        )


def _written_before(graph: FlowGraph) -> dict[str, set[str]]:
    """Variables certainly written on every path from the start to each activity."""
    order = graph.reachable()
    preds = graph.predecessors()
    everything = set().union(*(variables_written(graph.activities[a]) for a in order))
    before: dict[str, set[str]] = {a: set(everything) for a in order}
    if order:
        before[order[0]] = set()
    changed = True
    while changed:  # classic forward "must" data-flow to a fixpoint
        changed = False
        for activity_id in order[1:]:
            incoming = [
                before[p] | variables_written(graph.activities[p])
                for p in preds[activity_id]
                if p in before
            ]
            new = set.intersection(*incoming) if incoming else set()
            if new != before[activity_id]:
                before[activity_id], changed = new, True
    return before


def hard_coded_record_ids(flow: Flow) -> Iterator[Finding]:
    """Defect 2: a screen pop (or a query) that names one fixed record for every caller."""
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            if not isinstance(activity, ScreenPopActivity | HttpRequestActivity):
                continue
            for field, template in template_fields(activity):
                literal = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", template)
                if match := GUID.search(literal):
                    if field == "query.appid":
                        continue  # the model-driven app id is configuration, not a record
                    yield _finding(
                        "hard-coded-record-id",
                        Severity.WARNING,
                        graph,
                        activity_id,
                        f"`{field}` holds the fixed record id {match.group(0)}: every caller "
                        "gets the same record",
                        "use the id the data dip found, e.g. `{{ CaseId }}`",
                    )


def _query_of(activity: HttpRequestActivity) -> dict[str, str]:
    target = activity.path or activity.url or ""
    query = {k.lower(): v for k, v in parse_qsl(urlsplit(target).query, keep_blank_values=True)}
    query.update({k.lower(): v for k, v in activity.query.items()})
    return query


def unordered_queries(flow: Flow) -> Iterator[Finding]:
    """Defect 1: the first record of an unordered, unfiltered query is anybody's record.

    Reading `value[0]` (or asking `$top=1`) is only meaningful when the query is ordered,
    or filtered to the one record wanted; `$top=2` on an exact filter is the ambiguity
    check and is fine. A nested `$expand(...;$top=...)` needs its own `$orderby`.
    """
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            if not isinstance(activity, HttpRequestActivity):
                continue
            query = _query_of(activity)
            reads_first = any(re.search(r"(^|[.$])value\[0\]", o.path) for o in activity.parse)
            takes_one = query.get("$top", "").strip() == "1"
            if "$orderby" not in query and (reads_first or takes_one):
                if "$filter" not in query:
                    yield _finding(
                        "unfiltered-query",
                        Severity.WARNING,
                        graph,
                        activity_id,
                        "the query has no `$filter` and no `$orderby`: its first record is "
                        "anybody's, not the caller's latest",
                        "filter on the customer found and order by `createdon desc`",
                    )
                elif takes_one:
                    yield _finding(
                        "top-without-orderby",
                        Severity.WARNING,
                        graph,
                        activity_id,
                        "`$top=1` with no `$orderby`: the server's order is arbitrary",
                        "add `$orderby=createdon desc` (latest first)",
                    )
            for nested in re.findall(r"\(([^()]*)\)", query.get("$expand", "")):
                if "$top" in nested and "$orderby" not in nested:
                    yield _finding(
                        "top-without-orderby",
                        Severity.WARNING,
                        graph,
                        activity_id,
                        "an `$expand` takes `$top` records with no `$orderby`",
                        "add `;$orderby=createdon desc` inside the `$expand`",
                    )


def _odata_in_url(field: str, template: str) -> bool:
    return field in ("path", "url") and ("$" in template or "'" in template or "odata" in template)


def _tainted_variables(flow: Flow, sanitizers: Sanitizers) -> set[str]:
    """Caller-controlled names: `NewPhoneContact`, and variables set from them without
    passing through one of `sanitizers` (a fixpoint)."""
    tainted = set(CALLER_ROOTS)
    setters = [
        a for g in graphs(flow) for a in g.activities.values() if isinstance(a, SetVariableActivity)
    ]
    changed = True
    while changed:
        changed = False
        for activity in setters:
            if activity.variable in tainted:
                continue
            for field, template in template_fields(activity):
                tree = field_ast(activity, field, template)
                if tree is None:
                    continue
                if unsanitized(tree, tainted, sanitizers):
                    tainted.add(activity.variable)
                    changed = True
    return tainted


def caller_data_in_queries(flow: Flow) -> Iterator[Finding]:
    """Defect 4: the ANI pasted into an OData query unquoted, through a leading-wildcard scan."""
    tainted = _tainted_variables(flow, SANITIZERS)
    url_tainted = _tainted_variables(flow, URL_SANITIZERS)
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            if not isinstance(activity, HttpRequestActivity):
                continue
            for field, template in template_fields(activity):
                tree = field_ast(activity, field, template)
                if tree is None:
                    continue
                leaks = unsanitized(tree, tainted, SANITIZERS)
                if leaks:
                    names = ", ".join(f"`{n}`" for n in sorted(leaks))
                    yield _finding(
                        "unquoted-caller-data",
                        Severity.ERROR,
                        graph,
                        activity_id,
                        f"`{field}` puts caller data ({names}) into the request unquoted: a "
                        "hostile caller ID can change the query",
                        "pass it through `odata_quote` or `odata_phone_filter`",
                    )
                elif _odata_in_url(field, template):
                    leaks = unsanitized(tree, url_tainted, URL_SANITIZERS)
                    if leaks:
                        names = ", ".join(f"`{n}`" for n in sorted(leaks))
                        yield _finding(
                            "unquoted-caller-data",
                            Severity.ERROR,
                            graph,
                            activity_id,
                            f"`{field}` writes caller data ({names}) into a URL as is: `%27`, "
                            "`&` or `#` in it survive `odata_quote` and change the query",
                            "move the parameter to `query:`, or use `odata_phone_filter` or "
                            "`odata_quote | urlencode`",
                        )
                if re.search(r"contains\s*\(\s*\w+\s*,\s*'\{\{", template):
                    yield _finding(
                        "wildcard-phone-match",
                        Severity.WARNING,
                        graph,
                        activity_id,
                        f"`{field}` matches the phone number with contains(): a leading-wildcard "
                        "scan on one free-text column",
                        "match exactly with `odata_phone_filter` (eq on each phone column and "
                        "format)",
                    )


def menus_without_reprompt(flow: Flow) -> Iterator[Finding]:
    """Defect 6: no input or a wrong key goes straight on, with no second chance."""
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            if isinstance(activity, MenuActivity) and activity.max_tries < 2:
                yield _finding(
                    "menu-no-reprompt",
                    Severity.WARNING,
                    graph,
                    activity_id,
                    "the menu plays once: no input or a wrong key is taken as final",
                    "set `max_tries: 3` with `no_input_prompt` and `invalid_prompt`",
                )


def music_without_exit(flow: Flow) -> Iterator[Finding]:
    """Defect 7: hold music that loops on itself, telling the caller nothing, for ever."""
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            if not isinstance(activity, PlayMusicActivity):
                continue
            if _music_only_cycle(graph, activity_id):
                yield _finding(
                    "music-no-exit",
                    Severity.WARNING,
                    graph,
                    activity_id,
                    "music loops back to itself with no announcement, no position in queue and "
                    "no way out",
                    "between segments, announce `Queue.position`/`Queue.estimatedWaitTime`, and "
                    "set `max_wait_s` with a fallback on the queue",
                )


def _music_only_cycle(graph: FlowGraph, start: str) -> bool:
    stack, seen = [start], set()
    while stack:
        current = stack.pop()
        for target in graph.successors(current).values():
            if target == start:
                return True
            target_activity = graph.activities[target]
            if isinstance(target_activity, PlayMusicActivity) and target not in seen:
                seen.add(target)
                stack.append(target)
    return False


def sentinel_comparisons(flow: Flow) -> Iterator[Finding]:
    """Defect 5: "customer exists" decided by comparing with a magic string such as "NA"."""
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            if not isinstance(activity, ConditionActivity):
                continue
            tree = field_ast(activity, "expression", activity.expression)
            if tree is None:
                continue
            for compare in tree.find_all(nodes.Compare):
                for operand in [compare.expr, *(op.expr for op in compare.ops)]:
                    if (
                        isinstance(operand, nodes.Const)
                        and isinstance(operand.value, str)
                        and operand.value.strip().lower() in SENTINELS
                    ):
                        yield _finding(
                            "sentinel-comparison",
                            Severity.WARNING,
                            graph,
                            activity_id,
                            f"compares with the sentinel string {operand.value!r}: a record "
                            "whose value really is that string is taken for none",
                            "test the number of records found "
                            "(`GetCustomer.httpResponseBody.value | length == 1`) or `is empty`",
                        )


def queues_without_fallback(flow: Flow) -> Iterator[Finding]:
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            if (
                isinstance(activity, QueueContactActivity)
                and activity.max_wait_s is None
                and activity.fallback_queue is None
            ):
                yield _finding(
                    "queue-no-limit",
                    Severity.INFO,
                    graph,
                    activity_id,
                    "no maximum wait and no fallback queue: a caller can wait for ever",
                    "set `max_wait_s` and `fallback_queue`",
                )


RULES: tuple[Rule, ...] = (
    unwired_failure_outputs,
    unknown_or_unset_variables,
    caller_data_in_queries,
    unordered_queries,
    hard_coded_record_ids,
    sentinel_comparisons,
    menus_without_reprompt,
    music_without_exit,
    unreachable,
    queues_without_fallback,
)
