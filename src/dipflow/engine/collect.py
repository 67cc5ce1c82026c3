"""collect_digits: a prompt, then a number typed by the caller (Webex Collect Digits).

Keys pressed while a non-interruptible prompt plays are kept and read when it ends;
with an interruptible prompt the first key stops it (barge-in). The entry ends at
`max_digits` keys, at the terminator, or `inter_digit_timeout_s` after the last key;
it is `invalid` outside `min_digits..max_digits`, `no_input` when nothing came within
`entry_timeout_s` of the prompt's end. `<id>.DigitsEntered` holds the keys (without the
terminator) whatever the outcome.
"""

from __future__ import annotations

from typing import Final

from dipflow.engine.context import Executor, Run
from dipflow.engine.media import play_prompt
from dipflow.engine.results import Done, Result
from dipflow.engine.state import Cursor, MenuPhase, Wait
from dipflow.flow.model import CollectDigitsActivity


def collect_digits(run: Run, cursor: Cursor, activity: CollectDigitsActivity) -> Result:
    if run.caller_gone:
        return Done(output="error", error="the caller is no longer on the line")
    cursor.wait = Wait.COLLECT
    cursor.digits = ""
    run.expose(cursor, {"DigitsEntered": ""})
    if activity.prompt.empty:
        run.inputs(cursor, {"text": ""})
        _listen(run, cursor, activity.entry_timeout_s)
        return None
    cursor.menu_phase = MenuPhase.PROMPT
    command = play_prompt(
        run,
        cursor,
        activity.prompt,
        run.new_id(cursor.activity or "collect"),
        interruptible=activity.interruptible,
    )
    run.inputs(cursor, {"text": command.text, "audio": command.audio})
    return None


def _listen(run: Run, cursor: Cursor, timeout_s: float) -> None:
    run.cancel_timer(cursor)
    cursor.menu_phase = MenuPhase.COLLECT
    cursor.wait_id = None  # a late PromptDone of a prompt cut short is stale
    run.set_timer(cursor, timeout_s)


def prompt_done(run: Run, cursor: Cursor, activity: CollectDigitsActivity) -> Result:
    if cursor.digits:
        typed, cursor.digits = cursor.digits, ""
        return _take(run, cursor, activity, typed)
    _listen(run, cursor, activity.entry_timeout_s)
    return None


def keys(run: Run, cursor: Cursor, activity: CollectDigitsActivity, pressed: str) -> Result:
    if not pressed:
        return None
    if cursor.menu_phase is MenuPhase.PROMPT and not activity.interruptible:
        cursor.digits += pressed  # typed ahead: read when the prompt ends
        return None
    return _take(run, cursor, activity, pressed)


def _take(run: Run, cursor: Cursor, activity: CollectDigitsActivity, pressed: str) -> Result:
    for key in pressed:
        if activity.terminator is not None and key == activity.terminator:
            return _answer(run, cursor, activity)
        cursor.digits += key
        if len(cursor.digits) >= activity.max_digits:
            return _answer(run, cursor, activity)
    _listen(run, cursor, activity.inter_digit_timeout_s)
    return None


def timeout(run: Run, cursor: Cursor, activity: CollectDigitsActivity) -> Result:
    if cursor.digits:
        return _answer(run, cursor, activity)
    return Done(output="no_input", outputs={"DigitsEntered": ""})


def _answer(run: Run, cursor: Cursor, activity: CollectDigitsActivity) -> Result:
    run.cancel_timer(cursor)
    entry, cursor.digits = cursor.digits, ""
    cursor.wait_id = None
    run.expose(cursor, {"DigitsEntered": entry})
    if not activity.min_digits <= len(entry) <= activity.max_digits:
        return Done(
            output="invalid",
            outputs={"DigitsEntered": entry},
            error=f"{len(entry)} digits, expected {activity.min_digits}..{activity.max_digits}",
        )
    return Done(output="out", outputs={"DigitsEntered": entry})


EXECUTORS: Final[dict[str, Executor]] = {"collect_digits": collect_digits}
