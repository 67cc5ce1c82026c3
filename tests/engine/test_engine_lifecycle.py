"""The call around the flow: event flows, hang-ups, global error handling, robustness."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dipflow.engine import Engine
from dipflow.engine.commands import (
    CallFinished,
    Dequeue,
    Disconnect,
    Enqueue,
    Play,
    PlayMusic,
    StopMedia,
)
from dipflow.engine.events import (
    AgentAnswered,
    AgentDisconnected,
    AgentOffered,
    CallerHungUp,
    CallStarted,
    DigitsCollected,
    Event,
    HttpCompleted,
    HttpOutcome,
    PromptDone,
    PromptFailed,
    QueueFailed,
    QueueUpdated,
    TimerFired,
)
from dipflow.flow.model import Flow
from dipflow.testing import agent_hang_up, answer, hang_up, press, run_flow

MakeFlow = Callable[..., Flow]

MEDIA = (Play, PlayMusic, StopMedia, Disconnect)


def _say(text: str, **more: Any) -> dict[str, Any]:
    return {"kind": "play_message", "prompt": {"text": text}, **more}


def _pop(label: str) -> dict[str, Any]:
    return {"kind": "screen_pop", "url": "https://crm/{{ Agent.id }}", "label": label}


def _queued_flow(make_flow: MakeFlow, **event_flows: Any) -> Flow:
    return make_flow(
        {
            "Hi": _say("hi", next="Queue"),
            "Queue": {"kind": "queue_contact", "queue": "Care", "next": "Music"},
            "Music": {"kind": "play_music", "duration_s": 30, "next": "Music"},
        },
        event_flows=event_flows,
    )


def test_agent_answered_stops_music_and_main_flow_then_pops(make_flow: MakeFlow) -> None:
    flow = _queued_flow(
        make_flow,
        agent_offered={"start": "Offer", "activities": {"Offer": _pop("offered")}},
        agent_answered={"start": "Pop", "activities": {"Pop": _pop("answered")}},
    )
    result = run_flow(flow, agent=[answer(after=45, agent_id="a1", name="Ada")], max_time=200)
    labels = [p.label for p in result.screen_pops]
    assert labels == ["offered", "answered"]
    assert result.screen_pops[1].url == "https://crm/a1"
    assert result.variables["Agent.name"] == "Ada"
    answered_at = next(t for t, c in result.timeline if isinstance(c, StopMedia))
    assert answered_at >= 45
    # Nothing of the main flow runs after the agent answered (no music segment restarts).
    assert not any(isinstance(c, PlayMusic) for t, c in result.timeline if t > answered_at)
    assert not result.finished  # caller and agent are still talking


def test_agent_hang_up_ends_the_call_with_event_flows(make_flow: MakeFlow) -> None:
    flow = _queued_flow(
        make_flow,
        agent_disconnected={"start": "Bye", "activities": {"Bye": {"kind": "end"}}},
        contact_ended={"start": "Log", "activities": {"Log": {"kind": "end"}}},
    )
    result = run_flow(flow, agent=[answer(after=5), agent_hang_up(after=65)])
    assert result.finished
    assert result.commands[-2:] == [Disconnect(reason="agent_disconnected"), CallFinished()]
    events = [e.activity for e in result.trace if e.kind == "event"]
    assert events == ["agent_offered", "agent_answered", "agent_disconnected", "contact_ended"]


def test_caller_hang_up_during_a_prompt(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {"Hi": _say("a long welcome message that takes a while", next="Bye"), "Bye": _say("bye")},
        event_flows={"contact_ended": {"start": "Log", "activities": {"Log": {"kind": "end"}}}},
    )
    result = run_flow(flow, caller=[hang_up(after=1.0)])
    assert result.prompts == ["a long welcome message that takes a while"]
    assert result.finished and result.hung_up
    assert result.commands[-1] == CallFinished()
    assert not any(isinstance(c, MEDIA) for c in result.commands[1:])
    hi = next(e for e in result.trace if e.activity == "Hi")
    assert hi.output_taken is None and hi.outputs == {"stopped": "caller_hung_up"}
    assert sum(e.activity == "contact_ended" for e in result.trace) == 1


def test_caller_hang_up_while_queued_dequeues_and_cancels_timers(make_flow: MakeFlow) -> None:
    flow = _queued_flow(make_flow)
    engine = Engine(flow)
    state, _ = engine.start(CallStarted(call_id="c", ani="1", dnis="2"), 0.0)
    state, commands = engine.step(state, PromptDone(prompt_id="Hi#1"), 1.0)
    assert Enqueue(queue="Care") in commands
    state, commands = engine.step(state, CallerHungUp(), 10.0)
    kinds = [type(c).__name__ for c in commands]
    assert kinds == ["CancelTimer", "Dequeue", "CallFinished"]
    assert commands[1] == Dequeue(queue="Care")
    assert state.finished
    # After the end, everything is ignored.
    _, commands = engine.step(state, AgentAnswered(agent_id="a", agent_name="A"), 11.0)
    assert commands == []


def test_flow_ending_while_queued_plays_hold_music(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "Queue": {"kind": "queue_contact", "queue": "Care", "next": "Done"},
            "Done": {"kind": "end"},
        }
    )
    result = run_flow(flow, agent=[answer(after=30)], max_time=60)
    assert [type(c).__name__ for c in result.commands[:2]] == ["Enqueue", "PlayMusic"]
    assert not result.disconnected
    assert result.screen_pops == [] and isinstance(result.commands[-1], StopMedia)


def test_disconnect_activity_runs_contact_ended_once(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {"Bye": {"kind": "disconnect_contact", "reason": "done"}},
        event_flows={
            "contact_ended": {
                "start": "Post",
                "activities": {
                    "Post": {
                        "kind": "http_request",
                        "url": "https://log.example/calls",
                        "method": "POST",
                        "body": {"call": "{{ NewPhoneContact.InteractionId }}"},
                    }
                },
            }
        },
    )
    engine = Engine(flow)
    state, commands = engine.start(CallStarted(call_id="c9", ani="1", dnis="2"), 0.0)
    assert commands[0] == Disconnect(reason="done")
    assert not any(isinstance(c, CallFinished) for c in commands)  # the wrap-up is pending
    post = commands[1]
    assert getattr(post, "body", None) == {"call": "c9"}
    state, commands = engine.step(
        state,
        HttpCompleted(request_id="Post#1", outcome=HttpOutcome.SUCCESS, status=204),
        0.2,
    )
    assert commands[-1] == CallFinished()
    _, commands = engine.step(state, CallerHungUp(), 0.3)
    assert commands == []


def test_default_global_error_apologises_then_hangs_up(make_flow: MakeFlow) -> None:
    flow = make_flow({"Odd": {"kind": "unsupported", "original_kind": "x"}})
    result = run_flow(flow)
    assert result.prompts == [flow.settings.apology_prompt]
    assert result.disconnected and result.finished
    assert result.queued == []


def test_default_global_error_queues_to_the_fallback(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {"Odd": {"kind": "unsupported", "original_kind": "x"}},
        settings={"fallback_queue": "Rescue"},
    )
    result = run_flow(flow, agent=[answer(after=10)], max_time=60)
    assert result.queued == ["Rescue"]
    acts = [c for c in result.commands if type(c).__name__ != "Notice"]  # the stub's note
    assert isinstance(acts[1], PlayMusic)
    assert not result.disconnected


def test_default_global_error_apologises_when_the_fallback_fails(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {"Odd": {"kind": "unsupported", "original_kind": "x"}},
        settings={"fallback_queue": "Rescue"},
    )
    engine = Engine(flow)
    state, _ = engine.start(CallStarted(call_id="c", ani="1", dnis="2"), 0.0)
    _, commands = engine.step(state, QueueFailed(queue="Rescue", reason="closed"), 5.0)
    assert isinstance(commands[0], StopMedia)
    play = commands[1]
    assert isinstance(play, Play) and play.text == flow.settings.apology_prompt


def test_error_while_queued_keeps_the_caller_waiting(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "Queue": {"kind": "queue_contact", "queue": "Care", "next": "Oops"},
            "Oops": {"kind": "unsupported", "original_kind": "x"},
        }
    )
    result = run_flow(flow, max_time=60)
    assert result.queued == ["Care"]
    assert isinstance(result.commands[-1], PlayMusic)
    assert not result.disconnected


def test_flow_global_error_event_flow_takes_over(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {"Odd": {"kind": "unsupported", "original_kind": "x"}},
        event_flows={
            "global_error": {
                "start": "Sorry",
                "activities": {
                    "Sorry": _say("sorry, {{ X }}", next="Queue"),
                    "Queue": {"kind": "queue_contact", "queue": "Help"},
                },
            }
        },
        variables=[{"name": "X", "default": "friend"}],
    )
    result = run_flow(flow, max_time=30)
    assert result.prompts == ["sorry, friend"]
    assert result.queued == ["Help"]


def test_error_inside_global_error_flow_uses_the_default_handler(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {"Odd": {"kind": "unsupported", "original_kind": "x"}},
        event_flows={
            "global_error": {
                "start": "Worse",
                "activities": {"Worse": {"kind": "unsupported", "original_kind": "y"}},
            }
        },
    )
    result = run_flow(flow)
    assert result.prompts == [flow.settings.apology_prompt]
    assert result.disconnected


def test_loop_that_never_waits_is_stopped(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "A": {"kind": "set_variable", "variable": "N", "value": "{{ N + 1 }}", "next": "B"},
            "B": {"kind": "set_variable", "variable": "N", "value": "{{ N + 1 }}", "next": "A"},
        },
        variables=[{"name": "N", "type": "integer", "default": 0}],
        settings={"max_steps_per_event": 50},
    )
    result = run_flow(flow)
    assert 40 <= result.variables["N"] <= 50
    assert any(e.kind == "global_error" and "loop" in (e.error or "") for e in result.trace)
    assert result.prompts == [flow.settings.apology_prompt]


def test_error_in_an_event_flow_does_not_disturb_the_call(make_flow: MakeFlow) -> None:
    flow = _queued_flow(
        make_flow,
        agent_answered={
            "start": "Bad",
            "activities": {"Bad": {"kind": "unsupported", "original_kind": "z"}},
        },
    )
    result = run_flow(flow, agent=[answer(after=5)], max_time=60)
    assert not result.disconnected
    assert result.prompts == ["hi"]


def test_nonsense_events_are_ignored_and_traced(make_flow: MakeFlow) -> None:
    engine = Engine(make_flow({"Hi": _say("hi")}))
    state, _ = engine.start(CallStarted(call_id="c", ani="1", dnis="2"), 0.0)
    for event in (
        DigitsCollected(digits="5"),
        TimerFired(timer_id="nope"),
        AgentDisconnected(agent_id="x"),
        CallStarted(call_id="c", ani="1", dnis="2"),
        HttpCompleted(request_id="nope", outcome=HttpOutcome.SUCCESS),
    ):
        state, commands = engine.step(state, event, 0.5)
        assert commands == []
        assert state.trace[-1].kind == "ignored"
        assert state.trace[-1].activity == type(event).__name__


def test_digits_outside_a_menu_do_not_skip_the_flow(make_flow: MakeFlow) -> None:
    result = run_flow(
        make_flow({"Hi": _say("hi", next="Bye"), "Bye": _say("bye")}),
        caller=[press("1", after=0.1)],
    )
    assert result.prompts == ["hi", "bye"]


_EVENTS = st.one_of(
    st.builds(PromptDone, prompt_id=st.sampled_from(["Hi#1", "Menu#2", "Menu#3", "x"])),
    st.builds(
        PromptFailed, prompt_id=st.sampled_from(["Hi#1", "Menu#2", "Menu#4"]), reason=st.just("r")
    ),
    st.builds(DigitsCollected, digits=st.sampled_from(["1", "2", "9", "12", ""])),
    st.builds(TimerFired, timer_id=st.sampled_from(["Menu#3:timer", "Music#5:timer", "x"])),
    st.builds(
        HttpCompleted,
        request_id=st.sampled_from(["Get#1", "Get#2", "x"]),
        outcome=st.sampled_from(list(HttpOutcome)),
        status=st.sampled_from([200, 500, None]),
        body=st.sampled_from([None, {"value": []}, "text", {"value": [{"n": 1}]}]),
    ),
    st.builds(
        QueueUpdated, queue=st.just("Q"), position=st.integers(0, 9), estimated_wait_s=st.just(9.0)
    ),
    st.builds(QueueFailed, queue=st.sampled_from(["Q", "R"]), reason=st.just("r")),
    st.builds(AgentOffered, agent_id=st.just("a"), agent_name=st.just("A")),
    st.builds(AgentAnswered, agent_id=st.just("a"), agent_name=st.just("A")),
    st.builds(AgentDisconnected, agent_id=st.just("a")),
    st.just(CallerHungUp()),
)


def _fuzz_flow() -> Flow:
    return Flow.model_validate(
        {
            "name": "fuzz",
            "start": "Start",
            "settings": {"fallback_queue": "R"},
            "variables": [{"name": "N", "type": "integer", "default": 0}],
            "activities": {
                "Start": {"kind": "start", "next": "Get"},
                "Get": {
                    "kind": "http_request",
                    "url": "https://x/{{ N }}",
                    "parse": [{"variable": "N", "path": "value[0].n"}],
                    "on": {"success": "Menu"},
                },
                "Menu": {
                    "kind": "menu",
                    "prompt": {"text": "menu {{ N }}"},
                    "choices": {"1": "q", "2": "bye"},
                    "on": {"1": "Queue", "2": "Bye"},
                },
                "Queue": {
                    "kind": "queue_contact",
                    "queue": "Q",
                    "fallback_queue": "R",
                    "next": "Music",
                },
                "Music": {"kind": "play_music", "duration_s": 5, "next": "Get"},
                "Bye": {"kind": "disconnect_contact"},
            },
            "event_flows": {
                "agent_answered": {
                    "start": "Pop",
                    "activities": {"Pop": {"kind": "screen_pop", "url": "https://x/{{ N }}"}},
                },
                "contact_ended": {
                    "start": "Log",
                    "activities": {"Log": {"kind": "play_message", "prompt": {"text": "x"}}},
                },
            },
        }
    )


_FUZZ_ENGINE = Engine(_fuzz_flow())


@settings(max_examples=300, deadline=None)
@given(events=st.lists(_EVENTS, max_size=25))
def test_engine_never_raises_and_is_silent_after_hang_up(events: list[Event]) -> None:
    state, _ = _FUZZ_ENGINE.start(CallStarted(call_id="f", ani="1", dnis="2"), 0.0)
    hung_up = False
    finished = 0
    for i, event in enumerate(events, start=1):
        state, commands = _FUZZ_ENGINE.step(state, event, float(i))
        finished += sum(isinstance(c, CallFinished) for c in commands)
        if hung_up:
            assert not any(isinstance(c, MEDIA) for c in commands)
        if isinstance(event, CallerHungUp):
            hung_up = True
            assert state.finished
            assert not any(isinstance(c, MEDIA) for c in commands)
    assert finished == (1 if state.finished else 0)
    if state.finished:
        assert state.main is None and not state.side
