"""`http_start` / `http_join`: start a request without waiting, pick its answer up later.

What the caller relies on: the welcome prompt plays while the CRM answers, the
join takes the same success/error/timeout outputs an `http_request` would, the
request's budget runs from its start, and a call parked mid-way (state as JSON)
resumes with the answer it had already received.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dipflow.engine import CallState, Engine
from dipflow.engine.commands import HttpRequest, Play
from dipflow.engine.events import CallStarted, HttpCompleted, HttpOutcome, PromptDone
from dipflow.flow.errors import FlowError
from dipflow.flow.loader import load_flow_text
from dipflow.flow.model import Flow
from dipflow.testing import HttpReply, SimulationResult, hang_up, run_flow
from dipflow.testing.scripts import speech_seconds

MakeFlow = Callable[..., Flow]
WELCOME = "Welcome to customer care, thank you for calling."  # a few seconds of speech


def _flow(make_flow: MakeFlow, **join: Any) -> Flow:
    return make_flow(
        {
            "Lookup": {
                "kind": "http_start",
                "connector": "crm",
                "path": "contacts",
                "query": {"ani": "{{ NewPhoneContact.ANI }}"},
                "timeout_ms": 3000,
                "parse": [{"variable": "Name", "path": "value[0].fullname"}],
                "next": "Welcome",
            },
            "Welcome": {"kind": "play_message", "prompt": {"text": WELCOME}, "next": "Join"},
            "Join": {
                "kind": "http_join",
                "request": join.get("request", "Lookup"),
                "on": {"success": "Hello", "error": "Sorry", "timeout": "Sorry"},
            },
            "Hello": {"kind": "play_message", "prompt": {"text": "Hello {{ Name }}."}},
            "Sorry": {"kind": "play_message", "prompt": {"text": "Please hold."}},
        },
        variables=[{"name": "Name", "default": ""}],
    )


def _reply(delay_s: float) -> dict[str, HttpReply]:
    return {"Lookup": HttpReply(json={"value": [{"fullname": "Ada"}]}, delay_s=delay_s)}


def _plays(result: SimulationResult) -> list[tuple[float, Play]]:
    return [(at, c) for at, c in result.timeline if isinstance(c, Play)]


def _welcome_end(result: SimulationResult) -> float:
    at, play = next((at, p) for at, p in _plays(result) if p.text == WELCOME)
    return at + speech_seconds(play.text)


def _greeting_gap(result: SimulationResult) -> float:
    """Silence between the end of the welcome prompt and the start of the next prompt."""
    end = _welcome_end(result)
    return min(at for at, p in _plays(result) if p.text != WELCOME) - end


def test_request_goes_out_before_the_welcome_prompt(make_flow: MakeFlow) -> None:
    engine = Engine(_flow(make_flow))
    _, commands = engine.start(CallStarted(call_id="c", ani="+14155550123", dnis="1"), 0.0)
    kinds = [type(c) for c in commands]
    assert kinds.index(HttpRequest) < kinds.index(Play)


def test_answer_within_the_prompt_means_no_silence(make_flow: MakeFlow) -> None:
    result = run_flow(_flow(make_flow), http=_reply(0.3), caller=[hang_up(after=30)])
    assert result.prompts[1] == "Hello Ada."
    assert _greeting_gap(result) == pytest.approx(0.0)
    start = next(e for e in result.trace if e.activity == "Lookup")
    join = next(e for e in result.trace if e.activity == "Join")
    assert start.output_taken == "out" and join.output_taken == "success"
    assert join.outputs["Name"] == "Ada"
    assert result.variables["Name"] == "Ada"


def test_join_waits_when_the_answer_is_late(make_flow: MakeFlow) -> None:
    result = run_flow(_flow(make_flow), http=_reply(5.0), caller=[hang_up(after=30)])
    assert result.prompts[1] == "Please hold."  # 5 s > the 3 s budget: the timeout output
    late = run_flow(_flow(make_flow), http=_reply(2.5), caller=[hang_up(after=30)])
    assert late.prompts[1] == "Hello Ada."
    # the answer came 2.5 s after the call started: the wait is only what the prompt
    # did not cover
    expected = max(0.0, 2.5 - _welcome_end(late))
    assert _greeting_gap(late) == pytest.approx(expected, abs=0.01)


def test_budget_runs_from_the_start_not_from_the_join(make_flow: MakeFlow) -> None:
    result = run_flow(
        _flow(make_flow), http={"Lookup": HttpReply.timeout()}, caller=[hang_up(after=30)]
    )
    start = next(e for e in result.trace if e.activity == "Lookup")
    join = next(e for e in result.trace if e.activity == "Join")
    assert join.output_taken == "timeout"
    assert join.ended_at is not None
    # the 3 s budget ran out under the (longer) welcome prompt: the join takes the
    # timeout as soon as it is reached, not 3 s after it
    assert join.ended_at - start.started_at == pytest.approx(max(3.0, _welcome_end(result)))
    assert join.ended_at == pytest.approx(join.started_at)


def test_error_answer_takes_the_error_output(make_flow: MakeFlow) -> None:
    http = {"Lookup": HttpReply(status=503, json={"error": {"message": "down"}})}
    result = run_flow(_flow(make_flow), http=http, caller=[hang_up(after=30)])
    join = next(e for e in result.trace if e.activity == "Join")
    assert join.output_taken == "error"
    assert result.prompts[1] == "Please hold."


def test_a_call_parked_between_answer_and_join_resumes_with_the_answer(
    make_flow: MakeFlow,
) -> None:
    engine = Engine(_flow(make_flow))
    state, commands = engine.start(CallStarted(call_id="c", ani="+1415", dnis="1"), 0.0)
    request = next(c for c in commands if isinstance(c, HttpRequest))
    welcome = next(c for c in commands if isinstance(c, Play))
    answer = HttpCompleted(
        request_id=request.request_id,
        outcome=HttpOutcome.SUCCESS,
        status=200,
        body={"value": [{"fullname": "Grace"}]},
    )
    state, _ = engine.step(state, answer, 0.4)
    parked = CallState.from_json(state.to_json())  # e.g. saved to Redis, another node
    parked, commands = engine.step(parked, PromptDone(prompt_id=welcome.prompt_id), 2.0)
    hello = next(c for c in commands if isinstance(c, Play))
    assert hello.text == "Hello Grace."
    assert parked.http_started == {} and parked.http_results == {}


def test_join_of_a_request_never_started_is_the_error_output(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "Join": {
                "kind": "http_join",
                "request": "Lookup",
                "on": {"success": "Hello", "error": "Sorry"},
            },
            "Lookup": {
                "kind": "http_start",
                "connector": "crm",
                "path": "contacts",
                "next": "Hello",
            },
            "Hello": {"kind": "play_message", "prompt": {"text": "Hello."}},
            "Sorry": {"kind": "play_message", "prompt": {"text": "Please hold."}},
        }
    )
    result = run_flow(flow, http={}, caller=[hang_up(after=10)])
    join = next(e for e in result.trace if e.activity == "Join")
    assert join.output_taken == "error"
    assert join.error == "request 'Lookup' was not started"


def test_join_must_name_an_http_start() -> None:
    text = """\
format: 1
name: t
start: Start
activities:
  Start: {kind: start, next: Get}
  Get: {kind: http_request, connector: crm, path: contacts, next: Join}
  Join: {kind: http_join, request: Get, next: End}
  End: {kind: end}
"""
    with pytest.raises(FlowError) as caught:
        load_flow_text(text, filename="t.yaml")
    (problem,) = [str(p) for p in caught.value.problems]
    assert problem.startswith("t.yaml:7:")
    assert "`request` must name an http_start; 'Get' is of kind http_request" in problem
