"""Activities the caller hears or takes part in: messages, menus, music, queueing. Layer 2 (engine).

None of them runs once the caller is gone (hung up or disconnected): they take
their `error` output instead, so no media command ever follows a hang-up.
"""

from __future__ import annotations

from typing import Final

from dipflow.engine import queueing
from dipflow.engine.commands import Dequeue, Enqueue, Play, PlayMusic
from dipflow.engine.context import Executor, Run
from dipflow.engine.results import Done, Result
from dipflow.engine.speech import render_prompt
from dipflow.engine.state import Cursor, MenuPhase, QueueInfo, Wait
from dipflow.engine.values import cad
from dipflow.flow.model import (
    MenuActivity,
    PlayMessageActivity,
    PlayMusicActivity,
    Prompt,
    QueueContactActivity,
)

_GONE: Final = "the caller is no longer on the line"


def play_prompt(
    run: Run, cursor: Cursor, prompt: Prompt, prompt_id: str, *, interruptible: bool
) -> Play:
    command = render_prompt(run, prompt, prompt_id, interruptible=interruptible)
    run.emit(command)
    cursor.wait_id = prompt_id
    return command


# -- play_message -------------------------------------------------------------------------


def play_message(run: Run, cursor: Cursor, activity: PlayMessageActivity) -> Result:
    if run.caller_gone:
        return Done(output="error", error=_GONE)
    if activity.prompt.empty:
        # An unconfigured Flow Designer message: nothing to say, the flow goes on.
        run.inputs(cursor, {"text": ""})
        return Done(output="out", outputs={"skipped": "empty prompt"})
    prompt_id = run.new_id(cursor.activity or "prompt")
    command = play_prompt(
        run, cursor, activity.prompt, prompt_id, interruptible=activity.interruptible
    )
    run.inputs(cursor, {"text": command.text, "audio": command.audio})
    cursor.wait = Wait.PROMPT
    return None


def message_done(run: Run, cursor: Cursor, *, interrupted: bool) -> Result:
    return Done(output="out", outputs={"interrupted": interrupted})


def prompt_failed(run: Run, cursor: Cursor, reason: str) -> Result:
    return Done(output="error", error=f"prompt failed: {reason}")


# -- menu ---------------------------------------------------------------------------------


def menu(run: Run, cursor: Cursor, activity: MenuActivity) -> Result:
    if run.caller_gone:
        return Done(output="error", error=_GONE)
    cursor.wait = Wait.MENU
    cursor.menu_failures = 0
    cursor.digits = ""
    command = _menu_prompt(run, cursor, activity)
    run.inputs(cursor, {"text": command.text, "audio": command.audio})
    return None


def _menu_prompt(run: Run, cursor: Cursor, activity: MenuActivity) -> Play:
    cursor.menu_phase = MenuPhase.PROMPT
    prompt_id = run.new_id(cursor.activity or "menu")
    return play_prompt(
        run, cursor, activity.prompt, prompt_id, interruptible=activity.interruptible
    )


def menu_digits(run: Run, cursor: Cursor, activity: MenuActivity, digits: str) -> Result:
    if not digits:
        return None
    cursor.digits += digits
    if cursor.menu_phase is not MenuPhase.COLLECT and not activity.interruptible:
        return None  # typed ahead: answered when the prompt ends
    # Barge-in or an answer; the channel stops an interruptible prompt and its late
    # PromptDone carries an id we no longer wait for.
    return _menu_collect(run, cursor, activity)


def menu_prompt_done(run: Run, cursor: Cursor, activity: MenuActivity) -> Result:
    if cursor.digits:
        return _menu_collect(run, cursor, activity)
    if cursor.menu_phase is MenuPhase.RETRY:
        _menu_prompt(run, cursor, activity)
        return None
    cursor.menu_phase = MenuPhase.COLLECT
    cursor.wait_id = None
    run.set_timer(cursor, activity.entry_timeout_s)
    return None


def menu_timeout(run: Run, cursor: Cursor, activity: MenuActivity) -> Result:
    if cursor.digits:  # the inter-digit timer: what was pressed is the answer
        return _menu_answer(run, cursor, activity, cursor.digits)
    return _menu_failure(run, cursor, activity, "no_input", None)


def _menu_collect(run: Run, cursor: Cursor, activity: MenuActivity) -> Result:
    """Take keys one by one until they decide a choice (or cannot); else wait for more."""
    pressed, cursor.digits = cursor.digits, ""
    ends_with_hash = not any("#" in choice for choice in activity.choices)
    for key in pressed:
        if key == "#" and ends_with_hash and cursor.digits:
            return _menu_answer(run, cursor, activity, cursor.digits)
        cursor.digits += key
        longer = any(c != cursor.digits and c.startswith(cursor.digits) for c in activity.choices)
        if not longer:
            return _menu_answer(run, cursor, activity, cursor.digits)
    # A prefix of a longer choice: wait for the next key.
    run.cancel_timer(cursor)
    cursor.menu_phase = MenuPhase.COLLECT
    cursor.wait_id = None
    run.set_timer(cursor, activity.inter_digit_timeout_s)
    return None


def _menu_answer(run: Run, cursor: Cursor, activity: MenuActivity, keys: str) -> Result:
    run.cancel_timer(cursor)
    cursor.wait_id = None
    cursor.digits = ""
    run.expose(cursor, {"OptionEntered": keys})
    if keys in activity.choices:
        return Done(output=keys, outputs={"digit": keys, "tries": cursor.menu_failures + 1})
    return _menu_failure(run, cursor, activity, "invalid", keys)


def _menu_failure(
    run: Run, cursor: Cursor, activity: MenuActivity, kind: str, digit: str | None
) -> Result:
    cursor.menu_failures += 1
    if cursor.menu_failures >= activity.max_tries:
        run.expose(cursor, {"OptionEntered": digit or ""})
        return Done(output=kind, outputs={"digit": digit, "tries": cursor.menu_failures})
    retry = activity.invalid_prompt if kind == "invalid" else activity.no_input_prompt
    if retry is None:
        _menu_prompt(run, cursor, activity)
        return None
    cursor.menu_phase = MenuPhase.RETRY
    play_prompt(
        run,
        cursor,
        retry,
        f"{run.new_id(cursor.activity or 'menu')}:{kind}",
        interruptible=activity.interruptible,
    )
    return None


# -- play_music -----------------------------------------------------------------------------


def play_music(run: Run, cursor: Cursor, activity: PlayMusicActivity) -> Result:
    if run.caller_gone:
        return Done(output="error", error=_GONE)
    prompt_id = run.new_id(cursor.activity or "music")
    run.emit(PlayMusic(prompt_id=prompt_id, audio=activity.audio))
    run.inputs(cursor, {"audio": activity.audio, "duration_s": activity.duration_s})
    cursor.wait = Wait.MUSIC
    cursor.wait_id = prompt_id
    if activity.duration_s is not None:
        run.set_timer(cursor, activity.duration_s)
    return None


def music_timer(run: Run, cursor: Cursor) -> Result:
    # No StopMedia: the next activity's Play or PlayMusic replaces the music seamlessly.
    return Done(output="out")


# -- queue_contact --------------------------------------------------------------------------


def queue_contact(run: Run, cursor: Cursor, activity: QueueContactActivity) -> Result:
    if run.caller_gone:
        return Done(output="error", error=_GONE)
    state = run.state
    queue = run.queue_name(activity.queue)
    if not queue:
        return Done(output="error", error=f"queue {activity.queue!r} renders empty")
    data = cad(run.index.cad_variables, state.variables)
    priority, priority_note = queueing.priority(run, activity.priority)
    needs, relaxation = queueing.skills(run, activity.skills, activity.relaxation)
    inputs: dict[str, object] = {"queue": queue, "priority": priority, "data": data}
    if needs:
        inputs["skills"] = queueing.describe(needs)
    if relaxation:
        inputs["relaxation"] = {f"{s.after_s:g}s": queueing.describe(s.skills) for s in relaxation}
    if priority_note:
        inputs["priority_note"] = priority_note
    run.inputs(cursor, inputs)
    if state.queue is not None and state.queue.queue == queue:
        return Done(output="out", outputs={"queue": queue, "already_queued": True})
    if state.queue is not None:
        run.emit(Dequeue(queue=state.queue.queue))  # a transfer between queues
    run.emit(
        Enqueue(
            queue=queue,
            priority=priority,
            max_wait_s=activity.max_wait_s,
            data=data,
            skills=needs,
            relaxation=relaxation,
        )
    )
    state.queue = QueueInfo(queue=queue, flow=cursor.flow, activity=cursor.activity)
    return Done(output="out", outputs={"queue": queue})


EXECUTORS: Final[dict[str, Executor]] = {
    "play_message": play_message,
    "menu": menu,
    "play_music": play_music,
    "queue_contact": queue_contact,
}
