"""Data and logic activities: start, set_variable, condition, http_request, screen_pop, end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dipflow.engine import Engine
from dipflow.engine.commands import (
    CancelTimer,
    Disconnect,
    HttpRequest,
    Play,
    ScreenPop,
    SetTimer,
)
from dipflow.engine.events import CallStarted, HttpCompleted, HttpOutcome, TimerFired
from dipflow.flow.model import Flow
from dipflow.testing import HttpReply, answer, run_flow

MakeFlow = Callable[..., Flow]

SAY_DONE = {"kind": "play_message", "prompt": {"text": "done {{ X }}"}}
SAY_ERROR = {"kind": "play_message", "prompt": {"text": "error path"}}


def _start(engine: Engine, ani: str = "+14155550123") -> tuple[Any, list[Any]]:
    return engine.start(CallStarted(call_id="c1", ani=ani, dnis="+18005550100"), 100.0)


def test_start_exposes_the_contact_under_both_names(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "Say": {
                "kind": "play_message",
                "prompt": {
                    "text": "{{ NewPhoneContact.ANI }} {{ Start.DNIS }} "
                    "{{ NewPhoneContact.InteractionId }} {{ NewPhoneContact.StartTime }}"
                },
            }
        }
    )
    _, commands = _start(Engine(flow))
    play = commands[0]
    assert isinstance(play, Play)
    assert play.text == "+14155550123 +18005550100 c1 1970-01-01T00:01:40+00:00"


def test_set_variable_renders_and_converts_to_the_variable_type(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "Count": {
                "kind": "set_variable",
                "variable": "N",
                "value": "{{ 40 + 2 }}",
                "next": "Flag",
            },
            "Flag": {"kind": "set_variable", "variable": "B", "value": "true", "next": "Say"},
            "Say": SAY_DONE,
        },
        variables=[
            {"name": "N", "type": "integer", "default": 0},
            {"name": "B", "type": "boolean", "default": False},
            {"name": "X", "default": "x"},
        ],
    )
    result = run_flow(flow)
    assert result.variables["N"] == 42
    assert result.variables["B"] is True
    assert result.path[:4] == ["Start", "Count", "Flag", "Say"]


def test_set_variable_conversion_failure_takes_error(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "Count": {
                "kind": "set_variable",
                "variable": "N",
                "value": "not a number",
                "on": {"out": "Say", "error": "Oops"},
            },
            "Say": SAY_DONE,
            "Oops": SAY_ERROR,
        },
        variables=[{"name": "N", "type": "integer", "default": 0}],
    )
    result = run_flow(flow)
    assert result.prompts[0] == "error path"
    entry = next(e for e in result.trace if e.activity == "Count")
    assert entry.output_taken == "error"
    assert entry.error is not None and "integer" in entry.error


@pytest.mark.parametrize(
    ("expression", "expected"),
    [("{{ N > 3 }}", "yes"), ("N == 1", "no"), ('{{ "a" if N > 3 else "" }}', "oops")],
)
def test_condition_takes_true_false_or_error(
    make_flow: MakeFlow, expression: str, expected: str
) -> None:
    flow = make_flow(
        {
            "Check": {
                "kind": "condition",
                "expression": expression,
                "on": {"true": "Yes", "false": "No", "error": "Oops"},
            },
            "Yes": {"kind": "play_message", "prompt": {"text": "yes"}},
            "No": {"kind": "play_message", "prompt": {"text": "no"}},
            "Oops": {"kind": "play_message", "prompt": {"text": "oops"}},
        },
        variables=[{"name": "N", "type": "integer", "default": 5}],
    )
    assert run_flow(flow).prompts[0] == expected


def test_condition_reads_webex_style_expressions(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "Strip": {
                "kind": "set_variable",
                "variable": "ANI",
                "value": '{{NewPhoneContact.ANI | replace({"+":""})}}',
                "next": "Check",
            },
            "Check": {
                "kind": "condition",
                "expression": '{{ ANI == "14155550123" }}',
                "on": {"true": "Yes", "false": "No"},
            },
            "Yes": {"kind": "play_message", "prompt": {"text": "stripped {{ ANI }}"}},
            "No": {"kind": "play_message", "prompt": {"text": "no"}},
        }
    )
    assert run_flow(flow).prompts[0] == "stripped 14155550123"


def _http_flow(make_flow: MakeFlow, **wiring: str) -> Any:
    return make_flow(
        {
            "Get": {
                "kind": "http_request",
                "connector": "crm",
                "path": "contacts/{{ NewPhoneContact.DNIS }}",
                "query": {"phone": "{{ NewPhoneContact.ANI }}"},
                "headers": {"X-Call": "{{ NewPhoneContact.InteractionId }}"},
                "timeout_ms": 1500,
                "parse": [
                    {"variable": "X", "path": "value[0].fullname"},
                    {"variable": "Age", "path": "$.value[0].age"},
                ],
                "on": {"success": "Say", **wiring},
            },
            "Say": SAY_DONE,
            "Oops": SAY_ERROR,
            "Slow": {"kind": "play_message", "prompt": {"text": "slow"}},
        },
        variables=[
            {"name": "X", "default": "nobody"},
            {"name": "Age", "type": "integer", "default": 0},
        ],
    )


def test_http_request_renders_the_request(make_flow: MakeFlow) -> None:
    _, commands = _start(Engine(_http_flow(make_flow)))
    request = commands[0]
    assert isinstance(request, HttpRequest)
    assert request.path == "contacts/+18005550100"
    assert request.query == {"phone": "+14155550123"}
    assert request.headers == {"X-Call": "c1"}
    assert request.timeout_s == 1.5
    assert request.connector == "crm"


def test_http_success_parses_outputs_and_exposes_status_and_body(make_flow: MakeFlow) -> None:
    body = {"value": [{"fullname": "Ada", "age": "36"}]}
    flow = _http_flow(make_flow)
    result = run_flow(flow, http={"Get": HttpReply(status=200, json=body)})
    assert result.prompts == ["done Ada"]
    assert result.variables["Age"] == 36
    assert result.variables["Get.httpStatusCode"] == 200
    assert result.variables["Get.httpResponseBody"] == body


def test_http_missing_path_gives_the_default_not_an_error(make_flow: MakeFlow) -> None:
    result = run_flow(_http_flow(make_flow), http={"Get": HttpReply(json={"value": []})})
    assert result.prompts == ["done nobody"]
    assert result.variables["Age"] == 0


@pytest.mark.parametrize(
    "reply", [HttpReply(status=404, json={}), HttpReply(status=503), HttpReply.failure()]
)
def test_http_failure_takes_error(make_flow: MakeFlow, reply: HttpReply) -> None:
    result = run_flow(_http_flow(make_flow, error="Oops"), http={"Get": reply})
    assert result.prompts == ["error path"]


def test_http_timeout_takes_timeout_then_error_when_unwired(make_flow: MakeFlow) -> None:
    wired = run_flow(
        _http_flow(make_flow, error="Oops", timeout="Slow"), http={"Get": HttpReply.timeout()}
    )
    assert wired.prompts == ["slow"]
    unwired = run_flow(_http_flow(make_flow, error="Oops"), http={"Get": HttpReply.timeout()})
    assert unwired.prompts == ["error path"]


def test_http_guard_timer_when_the_runtime_never_answers(make_flow: MakeFlow) -> None:
    engine = Engine(_http_flow(make_flow, error="Oops", timeout="Slow"))
    state, commands = _start(engine)
    guard = commands[1]
    assert isinstance(guard, SetTimer)
    assert guard.at > 100.0 + 1.5
    state, commands = engine.step(state, TimerFired(timer_id=guard.timer_id), guard.at)
    assert isinstance(commands[0], Play) and commands[0].text == "slow"
    # The late answer is for a request nobody waits for any more.
    state, late = engine.step(
        state,
        HttpCompleted(request_id="Get#1", outcome=HttpOutcome.SUCCESS, status=200, body={}),
        guard.at + 1,
    )
    assert late == []
    assert state.trace[-1].kind == "ignored"


def test_http_answer_cancels_the_guard_timer(make_flow: MakeFlow) -> None:
    engine = Engine(_http_flow(make_flow))
    state, commands = _start(engine)
    request, guard = commands[0], commands[1]
    assert isinstance(request, HttpRequest) and isinstance(guard, SetTimer)
    _, commands = engine.step(
        state,
        HttpCompleted(request_id=request.request_id, outcome=HttpOutcome.SUCCESS, status=200),
        100.2,
    )
    assert commands[0] == CancelTimer(timer_id=guard.timer_id)


def test_http_error_unwired_goes_to_global_error(make_flow: MakeFlow) -> None:
    result = run_flow(_http_flow(make_flow), http={"Get": HttpReply(status=500)})
    assert any(e.kind == "global_error" for e in result.trace)
    assert result.disconnected  # the default handler apologised and hung up


def test_screen_pop_encodes_query_and_targets_the_agent(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {"Queue": {"kind": "queue_contact", "queue": "Q"}},
        variables=[{"name": "X", "default": "A&B Ltd"}],
        event_flows={
            "agent_answered": {
                "start": "Pop",
                "activities": {
                    "Pop": {
                        "kind": "screen_pop",
                        "url": "https://crm.example/main.aspx?app=1",
                        "query": {"name": "{{ X }}", "agent": "{{ Agent.name }}"},
                        "label": "Customer",
                    }
                },
            }
        },
    )
    result = run_flow(flow, agent=[answer(after=2, agent_id="a7", name="Ada L")], max_time=10)
    assert result.screen_pops == [
        ScreenPop(
            agent_id="a7",
            url="https://crm.example/main.aspx?app=1&name=A%26B+Ltd&agent=Ada+L",
            label="Customer",
        )
    ]


def test_end_hangs_up_a_caller_who_is_not_queued(make_flow: MakeFlow) -> None:
    result = run_flow(make_flow({"Done": {"kind": "end"}}))
    assert result.commands[0] == Disconnect(reason="flow_ended")
    assert result.finished


def test_unsupported_activity_always_takes_error(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "Odd": {
                "kind": "unsupported",
                "original_kind": "bridge-call",
                "on": {"error": "Oops"},
            },
            "Oops": SAY_ERROR,
        }
    )
    result = run_flow(flow)
    assert result.prompts[0] == "error path"
    entry = next(e for e in result.trace if e.activity == "Odd")
    assert entry.error is not None and "bridge-call" in entry.error


def test_start_time_is_the_wall_clock_start_the_channel_reports(make_flow: MakeFlow) -> None:
    """`now` is the runtime's timer clock; the date a flow sees comes with the event."""
    flow = make_flow(
        {"Say": {"kind": "play_message", "prompt": {"text": "{{ NewPhoneContact.StartTime }}"}}}
    )
    started = CallStarted(call_id="c1", ani="+1", dnis="2", started_at=1_795_600_000.0)
    _, commands = Engine(flow).start(started, 12.5)
    play = commands[0]
    assert isinstance(play, Play)
    assert play.text == "2026-11-25T09:46:40+00:00"
