"""Activities that do not involve the caller's ear: data, logic, data dips, screen pops.

Layer 2 (engine).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from dipflow.engine import lifecycle
from dipflow.engine.commands import HttpRequest, Notice, ScreenPop
from dipflow.engine.context import Executor, Run
from dipflow.engine.events import HttpCompleted, HttpOutcome
from dipflow.engine.logic import store_outputs
from dipflow.engine.results import STOPPED, Done, Result
from dipflow.engine.state import Cursor, Wait
from dipflow.engine.values import build_url, convert, render_body, to_bool
from dipflow.flow import jsonpath
from dipflow.flow.model import (
    ConditionActivity,
    DisconnectActivity,
    EndActivity,
    HttpJoinActivity,
    HttpRequestActivity,
    HttpStartActivity,
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


def _send(run: Run, cursor: Cursor, activity: HttpRequestActivity) -> HttpRequest:
    """Render and emit the activity's request (shared by `http_request` and `http_start`)."""
    request_id = run.new_id(cursor.activity or "http")
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
        timeout_s=activity.timeout_ms / 1000,
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
    return command


def http_request(run: Run, cursor: Cursor, activity: HttpRequestActivity) -> Result:
    command = _send(run, cursor, activity)
    cursor.wait = Wait.HTTP
    cursor.wait_id = command.request_id
    run.set_timer(cursor, command.timeout_s + HTTP_GUARD_S)
    return None


def http_start(run: Run, cursor: Cursor, activity: HttpStartActivity) -> Result:
    """Send, and go on at once: the answer waits in the state for an `http_join`."""
    command = _send(run, cursor, activity)
    start_id = cursor.activity or "http"
    state = run.state
    stale = state.http_started.pop(start_id, None)
    if stale is not None:  # started again (a loop) before being joined: forget the old one
        state.http_deadlines.pop(stale, None)
        state.http_results.pop(stale, None)
    state.http_started[start_id] = command.request_id
    state.http_deadlines[command.request_id] = run.now + command.timeout_s
    return Done(output="out", outputs={"request": command.request_id})


def http_join(run: Run, cursor: Cursor, activity: HttpJoinActivity) -> Result:
    """The started request's outcome: at once when it has arrived, else when it does."""
    state = run.state
    request_id = state.http_started.get(activity.request)
    run.inputs(cursor, {"request": activity.request, "request_id": request_id})
    if request_id is None:
        return Done(output="error", error=f"request {activity.request!r} was not started")
    arrived = state.http_results.get(request_id)
    if arrived is not None:
        return joined(run, cursor, activity, completed_from_dict(arrived))
    cursor.wait = Wait.HTTP
    cursor.wait_id = request_id
    remaining = state.http_deadlines.get(request_id, run.now) - run.now
    run.set_timer(cursor, max(0.0, remaining) + HTTP_GUARD_S)
    return None


def joined(run: Run, cursor: Cursor, activity: HttpJoinActivity, event: HttpCompleted) -> Result:
    """Complete a join with `event`, as its `http_start` would have completed."""
    state = run.state
    state.http_started.pop(activity.request, None)
    state.http_deadlines.pop(event.request_id, None)
    state.http_results.pop(event.request_id, None)
    start = run.index.activity(cursor.flow, activity.request)
    if not isinstance(start, HttpStartActivity):
        return Done(output="error", error=f"{activity.request!r} is not an http_start")
    return http_completed(run, cursor, start, event, namespace=activity.request)


def completed_to_dict(event: HttpCompleted) -> dict[str, Any]:
    return {
        "request_id": event.request_id,
        "outcome": event.outcome.value,
        "status": event.status,
        "body": event.body,
        "headers": dict(event.headers),
        "elapsed_ms": event.elapsed_ms,
        "attempts": event.attempts,
        "error": event.error,
    }


def completed_from_dict(data: dict[str, Any]) -> HttpCompleted:
    return HttpCompleted(**{**data, "outcome": HttpOutcome(data["outcome"])})


def http_completed(
    run: Run,
    cursor: Cursor,
    activity: HttpRequestActivity,
    event: HttpCompleted,
    *,
    namespace: str | None = None,
) -> Result:
    namespace = namespace or cursor.activity or "http"
    run.state.outputs[namespace] = {
        "httpStatusCode": event.status,
        "httpResponseBody": event.body,
    }
    facts: dict[str, Any] = {"status": event.status, "attempts": event.attempts}
    failure: tuple[str, str] | None = None
    if event.outcome is HttpOutcome.TIMEOUT:
        failure = ("timeout", event.error or "timed out")
    elif event.outcome is not HttpOutcome.SUCCESS:
        failure = ("error", event.error or "request failed")
    elif event.status is None or not 200 <= event.status < 300:
        failure = ("error", f"HTTP status {event.status}")
    if activity.single_output and (failure is None or event.status is not None):
        failure = None  # Webex: any response is the answer; the flow reads the status
    if failure is not None:
        output, error = failure
        if activity.single_output:
            output = "success"  # Webex: no response goes on too, with no status
        return Done(output=output, outputs=facts, error=error)
    body = event.body
    facts.update(store_outputs(run, activity.parse, lambda path: jsonpath.extract(path, body)))
    return Done(output="success", outputs=facts)


def http_timer(run: Run, cursor: Cursor) -> Result:
    activity = run.index.activity(cursor.flow, cursor.activity or "")
    single = isinstance(activity, HttpRequestActivity) and activity.single_output
    namespace = cursor.activity or "http"
    run.state.outputs[namespace] = {"httpStatusCode": None, "httpResponseBody": None}
    return Done(
        output="success" if single else "timeout", error="no answer from the HTTP connector"
    )


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
    # A stub stands where an activity dipflow cannot run was imported (--allow-partial):
    # the call says so, in its trace and transcript, and takes the stub's failure path.
    output = activity.taken_output()
    reason = activity.reason or activity.description or "not supported by dipflow"
    run.inputs(cursor, {"stub": activity.original_kind, "reason": reason})
    message = f"stub for Webex {activity.original_kind!r}: {reason}"
    run.emit(Notice(kind="stub", text=f"{cursor.activity}: {message}; takes `{output}`"))
    return Done(output=output, outputs={"stub": activity.original_kind}, error=message)


EXECUTORS: Final[dict[str, Executor]] = {
    "start": start,
    "set_variable": set_variable,
    "condition": condition,
    "http_request": http_request,
    "http_start": http_start,
    "http_join": http_join,
    "screen_pop": screen_pop,
    "disconnect_contact": disconnect,
    "end": end,
    "unsupported": unsupported,
}
