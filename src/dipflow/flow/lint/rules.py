"""Lint rules: each takes the flow and yields findings, `RULES` in report order. Layer 1 (flow).

The rules catch what makes a flow fail callers in production; each of the Webex
template's seven defects (../shared/webex/README.md) is one of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, urlsplit

from jinja2 import nodes

from dipflow.flow.advice import did_you_mean
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
    BusinessHoursActivity,
    ConditionActivity,
    Flow,
    HttpRequestActivity,
    MenuActivity,
    ParseActivity,
    PlayMusicActivity,
    Prompt,
    QueueContactActivity,
    ScreenPopActivity,
    SetVariableActivity,
    UnsupportedActivity,
    VirtualAgentActivity,
)

Rule = Callable[[Flow], Iterator[Finding]]

BUILTIN_ROOTS = frozenset(
    {"NewPhoneContact", "Queue", "Agent", "Event", "Error", "range", "loop", "namespace", "dict"}
)
CALLER_ROOTS = frozenset({"NewPhoneContact"})
# Activities whose outputs are keys the caller pressed (`Menu.digit`, `Collect.DigitsEntered`):
# caller data as much as the ANI.
CALLER_KEY_KINDS = frozenset({"menu", "collect_digits"})
# Globals a template may call; never a misspelt variable.
_TEMPLATE_HELPERS = frozenset({"range", "loop", "namespace", "dict"})
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
# A body written as JSON text: a value JSON-encoded cannot break out of its string.
BODY_SANITIZERS = Sanitizers(filters=SANITIZERS.filters | {"json_encode", "tojson"})
SENTINELS = frozenset({"na", "n/a", "null", "none", "undefined", "nil", "-", ""})
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _finding(
    rule: str,
    severity: Severity,
    graph: FlowGraph,
    activity: str | None,
    message: str,
    hint: str,
    *,
    field: str = "",
    name: str | None = None,
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        flow=graph.name,
        activity=activity,
        message=message,
        hint=hint,
        field=field,
        name=name,
    )


# Outputs whose absence drops or strands the caller, by kind, with their severity.
_FAILURE_OUTPUTS: dict[str, tuple[tuple[str, Severity], ...]] = {
    "http_request": (("error", Severity.ERROR),),
    "http_join": (("error", Severity.ERROR),),
    "queue_contact": (("error", Severity.WARNING),),
    "menu": (("no_input", Severity.WARNING), ("invalid", Severity.WARNING)),
    "condition": (("error", Severity.INFO),),
    "play_message": (("error", Severity.INFO),),
    "collect_digits": (("no_input", Severity.WARNING), ("invalid", Severity.WARNING)),
    "queue_to_agent": (("error", Severity.WARNING),),
    "queue_lookup": (("error", Severity.WARNING),),
    "virtual_agent": (("error", Severity.WARNING),),
    "callback": (("error", Severity.INFO),),
    "blind_transfer": (("error", Severity.WARNING),),
    "parse": (("error", Severity.INFO),),
}


def unwired_failure_outputs(flow: Flow) -> Iterator[Finding]:
    """Defect 3: a CRM outage falls to the global error handler, which may end the call."""
    for graph in graphs(flow):
        for activity_id in graph.reachable():
            activity = graph.activities[activity_id]
            if isinstance(activity, HttpRequestActivity | ParseActivity) and activity.single_output:
                continue  # Webex's one-output activities: the flow checks the outcome itself
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
                            f"`{field}` reads `{name}`, which no variable or activity defines"
                            f"{did_you_mean(name, known - _TEMPLATE_HELPERS)}",
                            "declare it under `variables:` or fix the spelling",
                            field=field,
                            name=name,
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
                            field=field,
                            name=name,
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


# Query parameters and body keys that hold configuration, not a record: the model-driven
# app, the organisation or workspace, a token's audience, an API key.
_CONFIG_KEYS = re.compile(
    r"(^|[._])(app_?id|appid|org_?id|orgid|tenant|workspace_?id|aud|audience|client_?id|key"
    r"|api_?key|project_?id)$",
    re.IGNORECASE,
)


def _may_name_a_record(field: str) -> bool:
    """Headers carry credentials and configuration; configuration-named keys too."""
    if field.startswith("headers."):
        return False
    return _CONFIG_KEYS.search(field) is None


def hard_coded_record_ids(flow: Flow) -> Iterator[Finding]:
    """Defect 2: a screen pop (or a query) that names one fixed record for every caller."""
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            if not isinstance(activity, ScreenPopActivity | HttpRequestActivity):
                continue
            for field, template in template_fields(activity):
                if not _may_name_a_record(field):
                    continue
                literal = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", template)
                if field in ("url", "path"):
                    # A GUID in the host (a mock server's name) names no record.
                    literal = literal.replace(urlsplit(literal).netloc, "", 1)
                if match := GUID.search(literal):
                    yield _finding(
                        "hard-coded-record-id",
                        Severity.WARNING,
                        graph,
                        activity_id,
                        f"`{field}` holds the fixed record id {match.group(0)}: every caller "
                        "gets the same record",
                        "use the id the data dip found, e.g. `{{ CaseId }}`",
                        field=field,
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


_ODATA_MARKERS = re.compile(r"\$(filter|select|expand|orderby|top|skip|count|search)\b|odata")


def _odata_in_url(field: str, template: str) -> bool:
    """An OData query written into the URL (where `odata_quote` alone is not enough); a
    plain REST URL with a quote in it (`filter=type=='Payment'`) is not one."""
    return field in ("path", "url") and _ODATA_MARKERS.search(template) is not None


def _caller_data_hint(field: str) -> str:
    if field == "body":
        return (
            "write the body as a JSON document with the value inside a string (dipflow "
            "encodes each value), or pass it through `json_encode`"
        )
    if field in ("path", "url"):
        return (
            "pass it through `urlencode` (in an OData filter: `odata_quote` or "
            "`odata_phone_filter`)"
        )
    return "pass it through `odata_quote` or `odata_phone_filter`"


def _tainted_variables(flow: Flow, sanitizers: Sanitizers, *, keys: bool = True) -> set[str]:
    """Caller-controlled names: `NewPhoneContact`, the keys the caller pressed (the ids of
    menus and digit collections; not with `keys=False`), and variables set from them
    without passing through one of `sanitizers` (a fixpoint)."""
    tainted = set(CALLER_ROOTS)
    if keys:
        tainted |= {
            ident
            for graph in graphs(flow)
            for ident, activity in graph.activities.items()
            if activity.kind in CALLER_KEY_KINDS
        }
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
    # Keys are digits, `*` and `#`: as the value of a plain query parameter (encoded by
    # the HTTP client) they are the value the parameter asks for, not an injection.
    caller_id_tainted = _tainted_variables(flow, SANITIZERS, keys=False)
    url_tainted = _tainted_variables(flow, URL_SANITIZERS)
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            if not isinstance(activity, HttpRequestActivity):
                continue
            for field, template in template_fields(activity):
                if field.startswith(("body.", "body[")):
                    continue  # a structured body: each value is JSON-encoded on its own
                tree = field_ast(activity, field, template)
                if tree is None:
                    continue
                sanitizers = BODY_SANITIZERS if field == "body" else SANITIZERS
                plain_parameter = field.startswith("query.") and not field.startswith("query.$")
                sources = caller_id_tainted if plain_parameter else tainted
                leaks = unsanitized(tree, sources, sanitizers)
                if leaks:
                    names = ", ".join(f"`{n}`" for n in sorted(leaks))
                    yield _finding(
                        "unquoted-caller-data",
                        Severity.ERROR,
                        graph,
                        activity_id,
                        f"`{field}` puts caller data ({names}) into the request unquoted: what a "
                        "caller sends (caller ID, keys) can change the request",
                        _caller_data_hint(field),
                        field=field,
                        name=min(leaks),
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
                            field=field,
                            name=min(leaks),
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
                        field=field,
                    )


def menus_without_reprompt(flow: Flow) -> Iterator[Finding]:
    """Defect 6: no input or a wrong key goes straight on, with no second chance."""
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            if not isinstance(activity, MenuActivity) or activity.max_tries >= 2:
                continue
            wired = activity.wiring()
            if all(wired.get(o) == activity_id for o in ("no_input", "invalid")):
                continue  # wired back to itself: the flow re-prompts (common in Webex)
            if (activity.origin or "").startswith("queue_experience:"):
                continue  # a callback offer, made once a round on purpose
            if activity.max_tries < 2:
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
                            field="expression",
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


_LEADING_VARIABLE = re.compile(r"\s*\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}")
_TEMPLATE = re.compile(r"\{\{|\{%")


def _pop_site_problem(url: str, written: set[str]) -> str | None:
    """Why the site (scheme, host, port) of a screen pop's URL template comes from call
    data, or None when it is fixed or one organisation setting."""
    leading = _LEADING_VARIABLE.match(url)
    if leading is not None:
        name, rest = leading.group(1), url[leading.end() :]
        if name in written or name in BUILTIN_ROOTS:
            return f"the whole site is `{{{{ {name} }}}}`, a value set during the call"
        if rest and rest[0] not in "/?#":
            return f"text right after `{{{{ {name} }}}}` ({rest[:20]!r}) can change its host"
        return None  # an organisation setting (`{{ DynamicsUrl }}/main.aspx`)
    scheme, sep, after = url.partition("://")
    if not sep:
        return None  # no site at all: not a web address, the desktop never opens it
    if _TEMPLATE.search(scheme):
        return "the scheme is templated"
    site = re.split(r"[/?#]", after, maxsplit=1)[0]
    if _TEMPLATE.search(site):
        return f"the host `{site}` is templated"
    return None


def templated_pop_hosts(flow: Flow) -> Iterator[Finding]:
    """A screen pop whose host is built from call data can send the agent anywhere.

    `http://crm{{ Name }}/` with a name of `@evil.example` opens evil.example in the
    agent's browser (the part before `@` is a user name). The site must be fixed, or one
    organisation setting the call never changes; data goes in the path or `query`. The
    desktop also refuses pops outside the binding's `screen_pop_origins` at run time.
    """
    written: set[str] = set()
    for graph in graphs(flow):
        for activity in graph.activities.values():
            written |= variables_written(activity)
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            if not isinstance(activity, ScreenPopActivity):
                continue
            problem = _pop_site_problem(activity.url, written)
            if problem is not None:
                yield _finding(
                    "templated-pop-host",
                    Severity.ERROR,
                    graph,
                    activity_id,
                    f"the screen pop's site comes from data: {problem}; a value such as "
                    "`@evil.example` would open another site in the agent's browser",
                    "write the site out, or use one organisation setting "
                    "(`{{ DynamicsUrl }}/main.aspx`); put call data in the path or `query`",
                )


def unchecked_http_status(flow: Flow) -> Iterator[Finding]:
    """Defect 3, as Webex runs it: an HTTP request has one output, so a CRM outage goes on
    as if the request had succeeded with no data unless the flow reads its status."""
    templates = [
        t for g in graphs(flow) for a in g.activities.values() for _, t in template_fields(a)
    ]
    text = "\n".join(templates)
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            if not (isinstance(activity, HttpRequestActivity) and activity.single_output):
                continue
            pattern = rf"\b{re.escape(activity_id)}\.httpStatusCode\b"
            if re.search(pattern, text, flags=re.IGNORECASE) is None:
                yield _finding(
                    "unchecked-http-status",
                    Severity.WARNING,
                    graph,
                    activity_id,
                    "nothing reads `httpStatusCode`: when the service fails or does not answer "
                    "the flow goes on as if it had answered with no data",
                    f"add a condition on `{{{{ {activity_id}.httpStatusCode == 200 }}}}` with "
                    "a path that still serves the caller",
                )


def unsupported_activities(flow: Flow) -> Iterator[Finding]:
    """Stubs an `--allow-partial` import left: a call reaching one takes its error path,
    so a CI gate must fail where the strict import would."""
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            if isinstance(activity, UnsupportedActivity):
                yield _finding(
                    "unsupported-activity",
                    Severity.ERROR,
                    graph,
                    activity_id,
                    f"Webex `{activity.original_kind}` is not supported: a call reaching this "
                    f"stub takes its `{activity.taken_output()}` output"
                    + (f" ({activity.reason})" if activity.reason else ""),
                    "replace it with a dipflow activity, or change the flow in Flow Designer",
                )


def unmapped_queues(flow: Flow) -> Iterator[Finding]:
    """Queues a Webex export names only by id: without a mapping the contact is queued to
    the id itself, a queue no dipflow center has."""
    graph = next(graphs(flow))
    for queue, name in flow.queues.items():
        if not name:
            yield _finding(
                "unmapped-queue",
                Severity.ERROR,
                graph,
                None,
                f"queue `{queue}` is not mapped to a dipflow queue",
                f"import with `--queue {queue}=NAME`, set `queues: {{{queue}: NAME}}` in the "
                "flow, or map it in the flow binding of the configuration",
            )


def unmapped_schedules(flow: Flow) -> Iterator[Finding]:
    """Business-hours schedules a Webex export names only by their Control Hub id: without
    a schedule the activity takes `error` on every call. The configuration's `schedules:`
    may map them (lint does not see it: map them in the flow to lint clean)."""
    graph = next(graphs(flow))
    for ident, schedule in flow.schedules.items():
        if schedule is None:
            yield _finding(
                "unmapped-schedule",
                Severity.ERROR,
                graph,
                None,
                f"schedule `{ident}` is not mapped to working hours",
                f"write it under `schedules: {{{ident}: {{timezone: ..., working_hours: "
                "[...]}}` in the flow, or in `schedules:` of the configuration",
            )
    for graph_ in graphs(flow):
        for activity_id, activity in graph_.activities.items():
            if (
                isinstance(activity, BusinessHoursActivity)
                and activity.schedule_id is not None
                and activity.schedule_id not in flow.schedules
            ):
                yield _finding(
                    "unmapped-schedule",
                    Severity.ERROR,
                    graph_,
                    activity_id,
                    f"schedule `{activity.schedule_id}` is not in the flow's `schedules`",
                    "list it under `schedules:` with its working hours",
                )


def empty_prompts(flow: Flow) -> Iterator[Finding]:
    """A message left unconfigured in Flow Designer: nothing plays (Webex refuses to publish
    such a flow; dipflow plays nothing and goes on)."""
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            prompt = getattr(activity, "prompt", None)
            if isinstance(prompt, Prompt) and prompt.empty:
                yield _finding(
                    "empty-prompt",
                    Severity.WARNING,
                    graph,
                    activity_id,
                    "the prompt is empty: nothing plays",
                    "write the message, or remove the activity",
                )


def virtual_agents_without_connector(flow: Flow) -> Iterator[Finding]:
    for graph in graphs(flow):
        for activity_id, activity in graph.activities.items():
            if isinstance(activity, VirtualAgentActivity) and not activity.connector:
                yield _finding(
                    "no-virtual-agent",
                    Severity.WARNING,
                    graph,
                    activity_id,
                    "no virtual-agent connector: every call takes the `error` output",
                    "name a virtual-agent connector of the configuration in `connector` "
                    "(import with `--connector WEBEX_ID=NAME`)",
                )


RULES: tuple[Rule, ...] = (
    unsupported_activities,
    unmapped_queues,
    unmapped_schedules,
    unwired_failure_outputs,
    unchecked_http_status,
    unknown_or_unset_variables,
    caller_data_in_queries,
    unordered_queries,
    hard_coded_record_ids,
    templated_pop_hosts,
    sentinel_comparisons,
    menus_without_reprompt,
    music_without_exit,
    unreachable,
    queues_without_fallback,
    empty_prompts,
    virtual_agents_without_connector,
)
