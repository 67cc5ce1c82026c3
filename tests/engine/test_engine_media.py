"""Activities the caller hears: play_message, menu, play_music, queue_contact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dipflow.engine import Engine
from dipflow.engine.commands import (
    CancelTimer,
    Enqueue,
    Play,
    PlayMusic,
    SetTimer,
    StopMedia,
)
from dipflow.engine.events import (
    CallStarted,
    DigitsCollected,
    PromptDone,
    PromptFailed,
    QueueFailed,
    TimerFired,
)
from dipflow.flow.model import Flow
from dipflow.testing import hang_up, press, queue_fail, queue_update, run_flow

MakeFlow = Callable[..., Flow]


def _say(text: str) -> dict[str, Any]:
    return {"kind": "play_message", "prompt": {"text": text}}


def _menu_flow(make_flow: MakeFlow, **menu: Any) -> Flow:
    return make_flow(
        {
            "Menu": {
                "kind": "menu",
                "prompt": {"text": "Press 1 or 2"},
                "choices": {"1": "one", "2": "two"},
                "entry_timeout_s": 4,
                "max_tries": 3,
                "no_input_prompt": {"text": "I did not hear you"},
                "invalid_prompt": {"text": "Not valid"},
                "on": {
                    "1": "One",
                    "2": "Two",
                    "no_input": "Silent",
                    "invalid": "Wrong",
                    "error": "Broken",
                },
                **menu,
            },
            "One": _say("one"),
            "Two": _say("two"),
            "Silent": _say("silent"),
            "Wrong": _say("wrong"),
            "Broken": _say("broken"),
        }
    )


def test_play_message_waits_for_prompt_done(make_flow: MakeFlow) -> None:
    engine = Engine(make_flow({"Hi": {**_say("hi"), "next": "Bye"}, "Bye": _say("bye")}))
    state, commands = engine.start(CallStarted(call_id="c", ani="1", dnis="2"), 0.0)
    assert commands == [Play(prompt_id="Hi#1", text="hi")]
    state, commands = engine.step(state, PromptDone(prompt_id="Hi#0"), 1.0)
    assert commands == []  # not the prompt we wait for
    _, commands = engine.step(state, PromptDone(prompt_id="Hi#1"), 1.5)
    assert commands == [Play(prompt_id="Bye#2", text="bye")]


def test_play_message_failure_takes_error(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "Hi": {
                "kind": "play_message",
                "prompt": {"audio": "missing.wav"},
                "on": {"out": "Ok", "error": "Broken"},
            },
            "Ok": _say("ok"),
            "Broken": _say("broken"),
        }
    )
    engine = Engine(flow)
    state, commands = engine.start(CallStarted(call_id="c", ani="1", dnis="2"), 0.0)
    play = commands[0]
    assert isinstance(play, Play) and play.audio == "missing.wav"
    _, commands = engine.step(state, PromptFailed(prompt_id=play.prompt_id, reason="no file"), 1)
    assert isinstance(commands[0], Play) and commands[0].text == "broken"


@pytest.mark.parametrize(("digit", "said"), [("1", "one"), ("2", "two")])
def test_menu_valid_digit_takes_its_output(make_flow: MakeFlow, digit: str, said: str) -> None:
    result = run_flow(_menu_flow(make_flow), caller=[press(digit, after=3.0)])
    assert result.prompts == ["Press 1 or 2", said]


def test_menu_digit_during_prompt_barges_in(make_flow: MakeFlow) -> None:
    engine = Engine(_menu_flow(make_flow))
    state, commands = engine.start(CallStarted(call_id="c", ani="1", dnis="2"), 0.0)
    prompt = commands[0]
    assert isinstance(prompt, Play) and prompt.interruptible
    state, commands = engine.step(state, DigitsCollected(digits="2"), 0.3)
    assert isinstance(commands[0], Play) and commands[0].text == "two"
    # The channel's late report of the interrupted prompt is stale and ignored.
    state, commands = engine.step(
        state, PromptDone(prompt_id=prompt.prompt_id, interrupted=True), 0.31
    )
    assert commands == []


def test_menu_buffers_digits_of_a_non_interruptible_prompt(make_flow: MakeFlow) -> None:
    engine = Engine(_menu_flow(make_flow, interruptible=False))
    state, commands = engine.start(CallStarted(call_id="c", ani="1", dnis="2"), 0.0)
    prompt = commands[0]
    assert isinstance(prompt, Play) and not prompt.interruptible
    state, commands = engine.step(state, DigitsCollected(digits="1"), 0.3)
    assert commands == []
    _, commands = engine.step(state, PromptDone(prompt_id=prompt.prompt_id), 1.0)
    assert isinstance(commands[0], Play) and commands[0].text == "one"


def test_menu_entry_timer_starts_when_the_prompt_ends(make_flow: MakeFlow) -> None:
    engine = Engine(_menu_flow(make_flow))
    state, commands = engine.start(CallStarted(call_id="c", ani="1", dnis="2"), 0.0)
    prompt = commands[0]
    assert isinstance(prompt, Play)
    state, commands = engine.step(state, PromptDone(prompt_id=prompt.prompt_id), 2.0)
    assert len(commands) == 1 and isinstance(commands[0], SetTimer)
    assert commands[0].at == 6.0
    timer = commands[0].timer_id
    state, commands = engine.step(state, DigitsCollected(digits="1"), 3.0)
    assert commands[0] == CancelTimer(timer_id=timer)
    # A timer that fires anyway after cancellation is ignored.
    _, commands = engine.step(state, TimerFired(timer_id=timer), 6.0)
    assert commands == []


def test_menu_invalid_reprompts_then_takes_invalid(make_flow: MakeFlow) -> None:
    result = run_flow(
        _menu_flow(make_flow),
        caller=[press("9", when="Menu"), press("8", when="Menu"), press("7", when="Menu")],
    )
    assert result.prompts == [
        "Press 1 or 2",
        "Not valid",
        "Press 1 or 2",
        "Not valid",
        "Press 1 or 2",
        "wrong",
    ]


def test_menu_invalid_then_valid(make_flow: MakeFlow) -> None:
    result = run_flow(
        _menu_flow(make_flow), caller=[press("9", when="Menu"), press("1", when="Menu")]
    )
    assert result.prompts == ["Press 1 or 2", "Not valid", "Press 1 or 2", "one"]


def test_menu_no_input_reprompts_then_takes_no_input(make_flow: MakeFlow) -> None:
    result = run_flow(_menu_flow(make_flow))
    assert result.prompts == [
        "Press 1 or 2",
        "I did not hear you",
        "Press 1 or 2",
        "I did not hear you",
        "Press 1 or 2",
        "silent",
    ]


def test_menu_without_retry_prompts_repeats_the_prompt(make_flow: MakeFlow) -> None:
    flow = _menu_flow(make_flow, no_input_prompt=None, max_tries=2)
    assert run_flow(flow).prompts == ["Press 1 or 2", "Press 1 or 2", "silent"]


def test_menu_unwired_digit_goes_to_error(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "Menu": {
                "kind": "menu",
                "prompt": {"text": "Press 1 or 2"},
                "choices": {"1": "one", "2": "two"},
                "on": {"1": "One", "error": "Broken"},
            },
            "One": _say("one"),
            "Broken": _say("broken"),
        }
    )
    assert run_flow(flow, caller=[press("2", after=0.5)]).prompts[-1] == "broken"


def test_menu_prompt_failure_takes_error(make_flow: MakeFlow) -> None:
    engine = Engine(_menu_flow(make_flow))
    state, commands = engine.start(CallStarted(call_id="c", ani="1", dnis="2"), 0.0)
    prompt = commands[0]
    assert isinstance(prompt, Play)
    _, commands = engine.step(state, PromptFailed(prompt_id=prompt.prompt_id, reason="tts"), 0.1)
    assert isinstance(commands[0], Play) and commands[0].text == "broken"


def _queue_flow(make_flow: MakeFlow, **queue: Any) -> Flow:
    return make_flow(
        {
            "Queue": {
                "kind": "queue_contact",
                "queue": "{{ QueueName }}",
                "on": {"out": "Music", "error": "NoAgent"},
                **queue,
            },
            "Music": {"kind": "play_music", "duration_s": 20, "next": "Where"},
            "Where": {
                "kind": "play_message",
                "prompt": {"text": "You are number {{ Queue.position }}"},
                "next": "Music",
            },
            "NoAgent": _say("no agent"),
        },
        variables=[
            {"name": "QueueName", "default": "Care"},
            {"name": "Name", "default": "Ada", "agent_visible": True, "desktop_label": "Who"},
            {"name": "Pin", "default": "1234", "agent_visible": True, "secure": True},
            {"name": "Hidden", "default": "h"},
        ],
    )


def test_queue_contact_sends_call_associated_data(make_flow: MakeFlow) -> None:
    result = run_flow(_queue_flow(make_flow), max_time=5)
    enqueue = result.commands[0]
    assert enqueue == Enqueue(queue="Care", data={"Who": "Ada"})
    assert isinstance(result.commands[1], PlayMusic)
    assert result.queued == ["Care"]


def test_music_segments_with_position_announcements(make_flow: MakeFlow) -> None:
    result = run_flow(
        _queue_flow(make_flow), agent=[queue_update(after=5, position=3, wait_s=90)], max_time=70
    )
    assert result.prompts[:2] == ["You are number 3", "You are number 3"]
    assert result.variables["Queue.position"] == 3
    assert result.variables["Queue.estimatedWaitTime"] == 90
    musics = [t for t, c in result.timeline if isinstance(c, PlayMusic)]
    assert musics[0] == 0.0 and musics[1] == pytest.approx(20 + 1.5, abs=0.2)


def test_music_without_duration_loops_until_something_happens(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "Queue": {"kind": "queue_contact", "queue": "Q", "next": "Music"},
            "Music": {"kind": "play_music", "next": "After"},
            "After": _say("never"),
        }
    )
    result = run_flow(flow, max_time=3600)
    assert result.prompts == []
    assert not any(isinstance(c, SetTimer) for c in result.commands)


def test_queue_failure_reenqueues_to_the_fallback_once(make_flow: MakeFlow) -> None:
    flow = _queue_flow(make_flow, fallback_queue="Overflow")
    result = run_flow(
        flow,
        agent=[queue_fail(after=5), queue_fail(after=10)],
        max_time=60,
    )
    assert result.queued == ["Care", "Overflow"]
    assert result.prompts == ["no agent"]
    stop = [i for i, c in enumerate(result.commands) if isinstance(c, StopMedia)]
    assert stop, "the music is interrupted before the error path speaks"


def test_queue_failure_without_fallback_takes_error(make_flow: MakeFlow) -> None:
    result = run_flow(_queue_flow(make_flow), agent=[queue_fail(after=5)], max_time=60)
    assert result.queued == ["Care"]
    assert result.prompts == ["no agent"]
    assert result.disconnected  # the error path ended, the caller was not left waiting


def test_queue_failure_for_another_queue_is_ignored(make_flow: MakeFlow) -> None:
    engine = Engine(_queue_flow(make_flow))
    state, _ = engine.start(CallStarted(call_id="c", ani="1", dnis="2"), 0.0)
    _, commands = engine.step(state, QueueFailed(queue="Other", reason="x"), 1.0)
    assert commands == []


def test_media_activities_refuse_after_hang_up(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {"Hi": _say("hi")},
        event_flows={
            "contact_ended": {
                "start": "Late",
                "activities": {"Late": {"kind": "play_message", "prompt": {"text": "late"}}},
            }
        },
    )
    result = run_flow(flow, caller=[hang_up(after=0.2)])
    assert result.prompts == ["hi"]
    assert result.finished
    late = next(e for e in result.trace if e.activity == "Late")
    assert late.output_taken == "error"


# -- menus whose choices are several keys -------------------------------------------------

_LONG_CHOICES = {"choices": {"1": "one", "12": "twelve", "2": "two"}, "inter_digit_timeout_s": 2}
_LONG_WIRING = {
    "1": "One",
    "12": "Twelve",
    "2": "Two",
    "no_input": "Silent",
    "invalid": "Wrong",
    "error": "Broken",
}


def _long_menu(make_flow: MakeFlow) -> Flow:
    flow = _menu_flow(make_flow, **_LONG_CHOICES, on=_LONG_WIRING)
    data = flow.model_dump(mode="json", exclude_none=True)
    data["activities"]["Twelve"] = _say("twelve")
    return Flow.model_validate(data)


def _after_prompt(engine: Engine) -> tuple[Any, float]:
    state, commands = engine.start(CallStarted(call_id="c", ani="1", dnis="2"), 0.0)
    prompt = commands[0]
    assert isinstance(prompt, Play)
    state, _ = engine.step(state, PromptDone(prompt_id=prompt.prompt_id), 1.0)
    return state, 1.0


def test_two_key_choice_is_taken_when_its_second_key_comes(make_flow: MakeFlow) -> None:
    engine = Engine(_long_menu(make_flow))
    state, now = _after_prompt(engine)
    state, commands = engine.step(state, DigitsCollected(digits="1"), now + 0.5)
    # "1" could still become "12": wait the inter-digit time for the next key.
    timers = [c for c in commands if isinstance(c, SetTimer)]
    assert [t.at for t in timers] == [now + 0.5 + 2]
    assert not any(isinstance(c, Play) for c in commands)
    _, commands = engine.step(state, DigitsCollected(digits="2"), now + 1.0)
    assert [c.text for c in commands if isinstance(c, Play)] == ["twelve"]


def test_prefix_choice_is_taken_when_the_inter_digit_timer_fires(make_flow: MakeFlow) -> None:
    engine = Engine(_long_menu(make_flow))
    state, now = _after_prompt(engine)
    state, commands = engine.step(state, DigitsCollected(digits="1"), now + 0.5)
    (timer,) = [c for c in commands if isinstance(c, SetTimer)]
    _, commands = engine.step(state, TimerFired(timer_id=timer.timer_id), timer.at)
    assert [c.text for c in commands if isinstance(c, Play)] == ["one"]


@pytest.mark.parametrize(("keys", "said"), [("2", "two"), ("12", "twelve"), ("1#", "one")])
def test_unambiguous_keys_decide_at_once(make_flow: MakeFlow, keys: str, said: str) -> None:
    """A key that no longer choice extends decides without waiting; `#` ends the entry."""
    engine = Engine(_long_menu(make_flow))
    state, now = _after_prompt(engine)
    _, commands = engine.step(state, DigitsCollected(digits=keys), now + 0.5)
    assert [c.text for c in commands if isinstance(c, Play)] == [said]


def test_keys_that_leave_every_choice_are_invalid(make_flow: MakeFlow) -> None:
    engine = Engine(_long_menu(make_flow))
    state, now = _after_prompt(engine)
    _, commands = engine.step(state, DigitsCollected(digits="13"), now + 0.5)
    assert [c.text for c in commands if isinstance(c, Play)] == ["Not valid"]


def test_single_key_menus_still_take_the_first_of_several_keys(make_flow: MakeFlow) -> None:
    engine = Engine(_menu_flow(make_flow))
    state, now = _after_prompt(engine)
    _, commands = engine.step(state, DigitsCollected(digits="21"), now + 0.5)
    assert [c.text for c in commands if isinstance(c, Play)] == ["two"]
