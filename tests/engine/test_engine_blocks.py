"""Building blocks: a loop counter (Amazon Connect's Loop) and a deterministic percentage
split (A/B routing by a hash of the call id)."""

from __future__ import annotations

from collections import Counter

from dipflow.flow.loader import load_flow_text, validate_text
from dipflow.testing import press, run_flow

RETRY = """\
name: retry
start: start
activities:
  start: {kind: start, next: ask}
  ask:
    kind: collect_digits
    prompt: {text: "Attempt {{ retry.count or 1 }}: your account number, please."}
    min_digits: 4
    max_digits: 4
    on: {out: thanks, no_input: retry, invalid: retry}
  retry: {kind: loop, times: 2, on: {looping: ask, complete: sorry}}
  thanks: {kind: play_message, prompt: {text: "Thank you."}, next: bye}
  sorry: {kind: play_message, prompt: {text: "Sorry, goodbye."}, next: bye}
  bye: {kind: disconnect_contact}
"""


def test_a_loop_lets_the_caller_try_times_more_then_completes() -> None:
    result = run_flow(load_flow_text(RETRY))
    assert result.prompts == [
        "Attempt 1: your account number, please.",
        "Attempt 1: your account number, please.",
        "Attempt 2: your account number, please.",
        "Sorry, goodbye.",
    ]
    assert result.path.count("retry") == 3


def test_a_loop_that_is_not_needed_is_not_counted() -> None:
    result = run_flow(
        load_flow_text(RETRY), caller=[press("12", when="ask"), press("1234", when="ask")]
    )
    assert result.prompts[-1] == "Thank you."
    assert result.variables["retry.count"] == 1


SPLIT = """\
name: ab
start: start
activities:
  start: {kind: start, next: ab}
  ab: {kind: split, percentages: {new_menu: 10, old_menu: 90}}
  new_menu: {kind: play_message, prompt: {text: "new"}, next: bye}
  old_menu: {kind: play_message, prompt: {text: "old"}, next: bye}
  bye: {kind: disconnect_contact}
"""


def test_a_split_sends_the_share_of_calls_asked_and_is_the_same_for_the_same_call() -> None:
    wired = "ab: {on: {new_menu: new_menu, old_menu: old_menu}, kind: split"
    flow = load_flow_text(SPLIT.replace("ab: {kind: split", wired))
    heard = Counter(run_flow(flow, call_id=f"call-{n}").prompts[0] for n in range(1000))
    assert 70 <= heard["new"] <= 130 and heard["new"] + heard["old"] == 1000
    first = run_flow(flow, call_id="call-7").prompts
    assert run_flow(flow, call_id="call-7").prompts == first


def test_a_split_must_add_up_to_100_and_wire_every_branch() -> None:
    flow, problems = validate_text(
        SPLIT.replace("old_menu: 90}", "old_menu: 80}"), filename="s.yaml"
    )
    assert flow is None
    assert [str(p) for p in problems] == [
        "s.yaml:5:3: [ab] the percentages add up to 90, not 100",
        "s.yaml:5:3: [ab] output `new_menu` is not wired",
        "s.yaml:5:3: [ab] output `old_menu` is not wired",
    ]
