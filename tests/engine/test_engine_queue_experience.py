"""The in-queue experience a flow configures in one activity: music, the position and the
wait, and after some rounds an offer to be called back."""

from __future__ import annotations

from dipflow.flow.loader import load_flow_text, validate_text
from dipflow.testing import answer, press, queue_update, run_flow

FLOW = """\
name: waiting
start: start
activities:
  start: {kind: start, next: queue}
  queue: {kind: queue_contact, queue: support, max_wait_s: 900, on: {out: waiting, error: bye}}
  waiting:
    kind: queue_experience
    every_s: 30
    offer_callback_after: 2
    on: {callback: later}
  later: {kind: play_message, prompt: {text: "We will call you back."}, next: bye}
  bye: {kind: disconnect_contact}
"""
ANNOUNCE = "You are number 3 in line. Your expected wait is about 4 minutes. Thank you for waiting."
OFFER = "To be called back instead of waiting, press 1. To keep your place, stay on the line."


def test_music_announcements_and_an_offer_every_second_round() -> None:
    result = run_flow(
        load_flow_text(FLOW),
        agent=[queue_update(after=5, position=3, wait_s=230)],
        max_time=200,
    )
    assert result.prompts[:6] == [ANNOUNCE, ANNOUNCE, OFFER, ANNOUNCE, ANNOUNCE, OFFER]
    music = [at for at, c in result.timeline if type(c).__name__ == "PlayMusic"]
    assert music[1] - music[0] >= 30  # a round is the music, then the announcement


def test_taking_the_offer_leaves_the_loop() -> None:
    result = run_flow(
        load_flow_text(FLOW),
        caller=[press("1", when="waiting__offer")],
        agent=[queue_update(after=5, position=3, wait_s=230)],
        max_time=300,
    )
    assert result.prompts[-1] == "We will call you back."
    assert result.disconnected


def test_an_agent_answering_ends_the_loop() -> None:
    result = run_flow(load_flow_text(FLOW), agent=[answer(after=45)], max_time=300)
    assert result.prompts == ["Thank you for waiting."]  # no position known yet
    assert result.state.agent is not None


def test_a_malformed_queue_experience_is_reported_where_it_is_written() -> None:
    text = FLOW.replace("    every_s: 30\n", "    every_s: 30\n    music: jazz\n")
    flow, problems = validate_text(text, filename="w.yaml")
    assert flow is None
    assert [str(p) for p in problems] == [
        "w.yaml:6:3: [waiting] unknown field `music` of a queue_experience; fields: announce,"
        " audio, callback_prompt, description, every_s, label, offer_callback_after, on,"
        " origin"
    ]
    unwired = FLOW.replace("    on: {callback: later}\n", "")
    assert [p.message for p in validate_text(unwired, filename="w.yaml")[1]] == [
        "output `callback` is not wired: where does a caller who takes the offer go?"
    ]


def test_the_expanded_loop_is_lint_clean() -> None:
    from dipflow.flow.lint.findings import Severity
    from dipflow.flow.lint.located import lint_text

    findings = lint_text(FLOW, filename="w.yaml", minimum=Severity.WARNING).findings
    assert [str(f) for f in findings] == []
