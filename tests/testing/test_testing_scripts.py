"""The test helper tells the truth: a script naming nothing is refused before the call
runs, and `after` counts from the caller's previous action."""

from __future__ import annotations

import pytest

from dipflow.engine.events import DigitsCollected
from dipflow.flow.loader import load_flow_text
from dipflow.testing import HttpReply, ScriptError, hang_up, press, run_flow

FLOW = load_flow_text(
    """\
name: account
variables: [{name: Name, default: ""}]
start: start
activities:
  start: {kind: start, next: GetCustomer}
  GetCustomer:
    kind: http_request
    url: https://crm.example/customers
    parse: [{variable: Name, path: "value[0].name"}]
    on: {success: Menu, error: Sorry, timeout: Sorry}
  Menu:
    kind: menu
    prompt: {text: "Hello {{ Name }}. Press 1 or 2."}
    choices: {1: one, 2: two}
    on: {1: Bye, 2: Bye, no_input: Bye, invalid: Bye}
  Sorry: {kind: play_message, prompt: {text: "Sorry."}, next: Bye}
  Bye: {kind: disconnect_contact}
"""
)
OK = HttpReply(json={"value": [{"name": "Ada"}]})


def test_an_http_reply_for_an_activity_the_flow_lacks_is_refused() -> None:
    with pytest.raises(ScriptError) as caught:
        run_flow(FLOW, http={"GetCustomr": HttpReply.failure()})
    assert str(caught.value) == (
        "http={'GetCustomr': ...}: the flow has no activity `GetCustomr` (did you mean"
        " `GetCustomer`?); the activities that make HTTP requests: GetCustomer"
    )


def test_an_http_reply_for_an_activity_that_makes_no_request_is_refused() -> None:
    with pytest.raises(ScriptError) as caught:
        run_flow(FLOW, http={"Menu": OK})
    assert str(caught.value) == (
        "http={'Menu': ...}: `Menu` is a menu, which makes no HTTP request; the activities"
        " that make HTTP requests: GetCustomer"
    )


def test_a_when_that_names_no_prompt_is_refused() -> None:
    with pytest.raises(ScriptError) as caught:
        run_flow(FLOW, http={"GetCustomer": OK}, caller=[press("1", when="Manu")])
    assert str(caught.value) == (
        "press(when='Manu'): the flow has no activity `Manu` (did you mean `Menu`?); the"
        " activities that play a prompt: Menu, Sorry"
    )
    with pytest.raises(ScriptError) as caught:
        run_flow(FLOW, http={"GetCustomer": OK}, caller=[hang_up(when="Bye")])
    assert str(caught.value) == (
        "hang_up(when='Bye'): `Bye` is a disconnect_contact, which plays no prompt; the"
        " activities that play a prompt: Menu, Sorry"
    )


def _digit_times(result_log: list[tuple[float, object]], start: float) -> list[float]:
    return [round(at - start, 3) for at, event in result_log if isinstance(event, DigitsCollected)]


def test_after_counts_from_the_callers_previous_action() -> None:
    result = run_flow(
        FLOW,
        http={"GetCustomer": OK},
        caller=[press("9", after=1.0), press("1", after=2.0)],
    )
    start = result.event_log[0][0]
    assert _digit_times(result.event_log, start) == [1.0, 3.0]


def test_when_waits_for_the_prompt_that_starts_after_the_previous_action() -> None:
    # 9 is invalid: the menu says its prompt again, and the second press answers that one.
    result = run_flow(
        FLOW,
        http={"GetCustomer": OK},
        caller=[press("9", when="Menu"), press("2", when="Menu", after=0.2)],
    )
    menu_prompts = [
        at for at, c in result.timeline if getattr(c, "prompt_id", "").startswith("Menu#")
    ]
    assert len(menu_prompts) == 2
    start = result.event_log[0][0]
    assert _digit_times(result.event_log, start) == [menu_prompts[0] + 0.5, menu_prompts[1] + 0.2]
    assert result.path[-2:] == ["Menu", "Bye"]
