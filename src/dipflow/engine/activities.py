"""Activities that do not involve the caller's ear: data, logic, data dips, screen pops.

Layer 2 (engine).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from dipflow.engine import lifecycle
from dipflow.engine.commands import HttpRequest, ScreenPop
from dipflow.engine.context import Executor, Run
from dipflow.engine.events import HttpCompleted, HttpOutcome
from dipflow.engine.results import STOPPED, Done, Result
from dipflow.engine.state import Cursor, Wait
from dipflow.engine.values import build_url, convert, empty_value, render_body, to_bool
from dipflow.flow import jsonpath
from dipflow.flow.model import (
    ConditionActivity,
    DisconnectActivity,
    EndActivity,
    HttpRequestActivity,
    ScreenPopActivity,
    SetVariableActivity,
    StartActivity,
    UnsupportedActivity,
)

START_NAMESPACE: Final = "NewPhoneContact"
HTTP_GUARD_S: Final = 2.0
"""Grace after an HTTP request's own timeout before the engine stops waiting for the
runtime's answer: a lost `HttpCompleted` must not leave the caller in silence."""


def start(run: Run, cursor: Cursor, activity: StartActivity) -> Result:
    contact = run.state.outputs.get(START_NAMESPACE, {})
    if not contact.get("StartTime"):
        contact["StartTime"] = datetime.fromtimestamp(run.now, UTC).isoformat()
    run.state.outputs[START_NAMESPACE] = contact
    if cursor.activity and cursor.activity != START_NAMESPACE:
        run.state.outputs[cursor.activity] = contact
    return Done(output="out", outputs=dict(contact))


def set_variable(run: Run, cursor: Cursor, activity: SetVariableActivity) -> Result:
    raw = activity.value
    value = render_body(raw, run.render)
    run.inputs(cursor, {"variable": activity.variable, "value": raw})
    declared = run.index.variables.get(activity.variable)
    if declared is not None:
        value = convert(value, declared.type)
    run.state.variables[activity.variable] = value
    return Done(output="out", outputs={activity.variable: value})


def condition(run: Run, cursor: Cursor, activity: ConditionActivity) -> Result:
    run.inputs(cursor, {"expression": activity.expression})
    value = to_bool(run.evaluate(activity.expression))
    return Done(output="true" if value else "false", outputs={"result": value})


def http_request(run: Run, cursor: Cursor, activity: HttpRequestActivity) -> Result:
    request_id = run.new_id(cursor.activity or "http")
    timeout_s = activity.timeout_ms / 1000
    command = HttpRequest(
        request_id=request_id,
        connector=activity.connector,
        method=activity.method.value,
        path=run.render(activity.path) if activity.path is not None else None,
        url=run.render(activity.url) if activity.url is not None else None,
        query={name: run.render(value) for name, value in activity.query.items()},
        headers={name: run.render(value) for name, value in activity.headers.items()},
        body=render_body(activity.body, run.render),
        content_type=activity.content_type,
        timeout_s=timeout_s,
        retries=activity.retries,
    )
    run.inputs(
        cursor,
        {
            "method": command.method,
            "connector": command.connector,
            "path": command.path,
            "url": command.url,
            "query": command.query,
            "headers": command.headers,
            "body": command.body,
        },
    )
    run.emit(command)
    cursor.wait = Wait.HTTP
    cursor.wait_id = request_id
    run.set_timer(cursor, timeout_s + HTTP_GUARD_S)
    return None


def http_completed(
    run: Run, cursor: Cursor, activity: HttpRequestActivity, event: HttpCompleted
) -> Result:
    namespace = cursor.activity or "http"
    run.state.outputs[namespace] = {
        "httpStatusCode": event.status,
        "httpResponseBody": event.body,
    }
    facts: dict[str, Any] = {"status": event.status, "attempts": event.attempts}
    if event.outcome is HttpOutcome.TIMEOUT:
        return Done(output="timeout", outputs=facts, error=event.error or "timed out")
    if event.outcome is not HttpOutcome.SUCCESS:
        return Done(output="error", outputs=facts, error=event.error or "request failed")
    if event.status is None or not 200 <= event.status < 300:
        return Done(output="error", outputs=facts, error=f"HTTP status {event.status}")
    variables = run.state.variables
    for output in activity.parse:
        declared = run.index.variables.get(output.variable)
        found = jsonpath.extract(output.path, event.body)
        if found is None:
            value = empty_value(declared)  # not found is an answer, not a failure
        else:
            value = convert(found, declared.type) if declared is not None else found
        variables[output.variable] = value
        facts[output.variable] = value
    return Done(output="success", outputs=facts)


def http_timer(run: Run, cursor: Cursor) -> Result:
    return Done(output="timeout", error="no answer from the HTTP connector")


def screen_pop(run: Run, cursor: Cursor, activity: ScreenPopActivity) -> Result:
    url = build_url(
        run.render(activity.url),
        {name: run.render(value) for name, value in activity.query.items()},
    )
    run.inputs(cursor, {"url": url, "label": activity.label})
    state = run.state
    agent = state.agent or state.offered
    run.emit(
        ScreenPop(
            agent_id=agent.agent_id if agent else None,
            url=url,
            label=activity.label,
            target=activity.target.value,
        )
    )
    return Done(output="out", outputs={"url": url})


def disconnect(run: Run, cursor: Cursor, activity: DisconnectActivity) -> Result:
    run.close(cursor, output=None, outputs={"reason": activity.reason})
    cursor.activity = None
    if run.caller_gone:
        lifecycle.flow_ended(run, cursor)
    else:
        lifecycle.detach(run, cursor)
        lifecycle.end_call(run, activity.reason, disconnect=True)
    return STOPPED


def end(run: Run, cursor: Cursor, activity: EndActivity) -> Result:
    return Done(output="end")


def unsupported(run: Run, cursor: Cursor, activity: UnsupportedActivity) -> Result:
    return Done(output="error", error=f"activity kind {activity.original_kind!r} is not supported")


EXECUTORS: Final[dict[str, Executor]] = {
    "start": start,
    "set_variable": set_variable,
    "condition": condition,
    "http_request": http_request,
    "screen_pop": screen_pop,
    "disconnect_contact": disconnect,
    "end": end,
    "unsupported": unsupported,
}
