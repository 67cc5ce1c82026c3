"""Call state as data: JSON round trip, replay of an event log, masking of secrets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dipflow.engine import CallState, Engine, EngineError
from dipflow.engine.commands import Command, HttpRequest, Play
from dipflow.engine.events import (
    AgentAnswered,
    CallStarted,
    DigitsCollected,
    Event,
    HttpCompleted,
    HttpOutcome,
    PromptDone,
    TimerFired,
)
from dipflow.flow.model import Flow
from dipflow.testing import (
    HttpReply,
    answer,
    events_from_json,
    events_to_json,
    hang_up,
    press,
    replay,
    run_flow,
)

MakeFlow = Callable[..., Flow]


def _flow(make_flow: MakeFlow) -> Flow:
    return make_flow(
        {
            "Get": {
                "kind": "http_request",
                "connector": "crm",
                "path": "contacts",
                "headers": {"Authorization": "Bearer {{ Token }}"},
                "query": {"ani": "{{ NewPhoneContact.ANI }}"},
                "parse": [
                    {"variable": "Name", "path": "value[0].fullname"},
                    {"variable": "Pin", "path": "value[0].pin"},
                ],
                "next": "Menu",
            },
            "Menu": {
                "kind": "menu",
                "prompt": {"text": "Hello {{ Name }}. Press 1 for an agent."},
                "choices": {"1": "agent"},
                "no_input_prompt": {"text": "Sorry?"},
                "on": {"1": "Queue", "no_input": "Queue"},
            },
            "Queue": {"kind": "queue_contact", "queue": "Care", "next": "Music"},
            "Music": {"kind": "play_music", "duration_s": 15, "next": "Music"},
        },
        variables=[
            {"name": "Name", "default": ""},
            {"name": "Token", "default": "s3cret-token", "secure": True},
            {"name": "Pin", "default": "", "secure": True},
        ],
        event_flows={
            "agent_answered": {
                "start": "Pop",
                "activities": {"Pop": {"kind": "screen_pop", "url": "https://crm/{{ Name }}"}},
            }
        },
    )


def _events_after_menu(prompt_id: str) -> list[tuple[float, Event]]:
    return [
        (3.0, PromptDone(prompt_id=prompt_id)),
        (8.0, TimerFired(timer_id="Menu#4:timer")),
        (9.0, DigitsCollected(digits="1")),
        (12.0, AgentAnswered(agent_id="a1", agent_name="Ada")),
    ]


def _drive(engine: Engine, state: CallState, events: list[tuple[float, Event]]) -> list[Command]:
    out: list[Command] = []
    for now, event in events:
        state, commands = engine.step(state, event, now)
        out.extend(commands)
    return out


def test_state_json_round_trip_mid_call_continues_identically(make_flow: MakeFlow) -> None:
    engine = Engine(_flow(make_flow))
    state, commands = engine.start(CallStarted(call_id="c", ani="+1415", dnis="+1800"), 0.0)
    request = commands[0]
    assert isinstance(request, HttpRequest)
    state, commands = engine.step(
        state,
        HttpCompleted(
            request_id=request.request_id,
            outcome=HttpOutcome.SUCCESS,
            status=200,
            body={"value": [{"fullname": "Ada", "pin": "9911"}]},
        ),
        0.5,
    )
    menu_prompt = next(c for c in commands if isinstance(c, Play))
    assert menu_prompt.text == "Hello Ada. Press 1 for an agent."

    # Park the call right after the menu prompt went out, as a store would.
    text = state.to_json()
    restored = CallState.from_json(text)
    assert restored.to_json() == text

    events = _events_after_menu(menu_prompt.prompt_id)
    original = _drive(engine, state, events)
    again = _drive(Engine(_flow(make_flow)), restored, events)
    assert original == again
    assert any(isinstance(c, Play) and c.text == "Sorry?" for c in original)


def test_replay_of_a_recorded_call_gives_the_same_commands(make_flow: MakeFlow) -> None:
    flow = _flow(make_flow)
    result = run_flow(
        flow,
        http={"Get": HttpReply(json={"value": [{"fullname": "Ada", "pin": "1"}]})},
        caller=[press("1", when="Menu", after=4.0)],
        agent=[answer(after=40, agent_id="a1")],
        max_time=120,
    )
    assert result.screen_pops, "the recorded call reached the agent"
    assert replay(flow, result.event_log) == result.commands


def test_event_log_saved_as_json_replays_identically(make_flow: MakeFlow) -> None:
    flow = _flow(make_flow)
    result = run_flow(
        flow,
        http={"Get": HttpReply(status=200, json={"value": [{"fullname": "Grace"}]})},
        caller=[press("9", when="Menu"), press("1", when="Menu"), hang_up(after=90)],
        agent=[answer(after=30)],
    )
    assert result.finished
    text = events_to_json(result.event_log)
    log = events_from_json(text)
    assert log == result.event_log
    assert replay(flow, log) == result.commands


def test_secure_variables_are_masked_in_the_trace(make_flow: MakeFlow) -> None:
    result = run_flow(
        _flow(make_flow),
        http={"Get": HttpReply(json={"value": [{"fullname": "Ada", "pin": "9911"}]})},
        max_time=5,
    )
    get = next(e for e in result.trace if e.activity == "Get")
    assert get.inputs["headers"] == {"Authorization": "Bearer ***"}
    assert get.outputs["Pin"] == "***"
    assert get.outputs["Name"] == "Ada"
    assert "9911" not in repr(result.trace)
    assert "s3cret-token" not in repr(result.trace)
    # The request itself carries the real secret: only the trace is masked.
    assert result.requests[0].headers == {"Authorization": "Bearer s3cret-token"}


def test_organisation_overrides_of_variable_defaults(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {"Hi": {"kind": "play_message", "prompt": {"text": "{{ Greeting }} x{{ Times + 1 }}"}}},
        variables=[
            {"name": "Greeting", "default": "Hello"},
            {"name": "Times", "type": "integer", "default": 1},
        ],
    )
    assert run_flow(flow).prompts == ["Hello x2"]
    assert run_flow(flow, variables={"Greeting": "Hi", "Times": "4"}).prompts == ["Hi x5"]


def test_unknown_or_mistyped_overrides_fail_when_the_flow_is_loaded(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {"Hi": {"kind": "play_message", "prompt": {"text": "{{ QueueName }}"}}},
        variables=[
            {"name": "QueueName", "default": "Care"},
            {"name": "Times", "type": "integer", "default": 1},
        ],
    )
    with pytest.raises(EngineError, match="'queueName' \\(did you mean 'QueueName'\\?\\)"):
        Engine(flow, variables={"queueName": "Support"})
    with pytest.raises(EngineError, match="Times"):
        Engine(flow, variables={"Times": "many"})


def test_trace_records_every_activity_with_times(make_flow: MakeFlow) -> None:
    result = run_flow(
        _flow(make_flow),
        http={"Get": HttpReply(json={"value": []}, delay_s=0.25)},
        caller=[press("1", when="Menu", after=1.0)],
        max_time=20,
    )
    assert result.path[:5] == ["Start", "Get", "Menu", "Queue", "Music"]
    get = next(e for e in result.trace if e.activity == "Get")
    assert get.ended_at is not None
    assert round(get.ended_at - get.started_at, 3) == 0.25
    menu = next(e for e in result.trace if e.activity == "Menu")
    assert menu.output_taken == "1"
