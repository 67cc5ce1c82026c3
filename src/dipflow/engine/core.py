"""The engine: `(state, event, now) -> (state, commands)`, no I/O, no clock, no randomness.

Layer 2 (engine). `_dispatch` matches every event type to its handler (exhaustively:
mypy reports an event type that is not handled); for events a waiting activity
answers (prompt done, HTTP completed, timer, digits) the cursor that waits for
that exact id is found first, so events for stale ids (an interrupted prompt,
a cancelled timer, an abandoned request) fall through and are ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar, assert_never, get_args

from dipflow.engine import activities, collect, lifecycle, media, routing
from dipflow.engine.commands import Command, StopMedia
from dipflow.engine.events import (
    AgentAnswered,
    AgentDisconnected,
    AgentOffered,
    AniUpdated,
    CallbackFailed,
    CallerHungUp,
    CallStarted,
    DigitsCollected,
    Event,
    HttpCompleted,
    PromptDone,
    PromptFailed,
    QueueFailed,
    QueueLookedUp,
    QueueUpdated,
    TimerFired,
    TransferDone,
    VirtualAgentEnded,
)
from dipflow.engine.index import FlowIndex
from dipflow.engine.interpreter import Interpreter
from dipflow.engine.results import describe
from dipflow.engine.state import (
    DEFAULT_ERROR_FLOW,
    MAIN_FLOW,
    AgentInfo,
    CallState,
    Cursor,
    TraceEntry,
    Wait,
)
from dipflow.flow.model import (
    CollectDigitsActivity,
    EventName,
    Flow,
    HttpJoinActivity,
    HttpRequestActivity,
    MenuActivity,
    Schedule,
)

_A = TypeVar("_A")

MAX_MEDIA_FAILURES: Final = 10
"""Failed prompts and music in a row (nothing played, pressed or timed out in between)
after which the caller is taken to hear nothing at all: the call ends, rather than run
the flow's error paths round in silence for ever (a TTS engine and hold music both down)."""


class Engine:
    """Runs one flow for any number of calls; holds no per-call data."""

    __slots__ = ("_index",)

    def __init__(
        self,
        flow: Flow,
        *,
        variables: Mapping[str, Any] | None = None,
        queues: Mapping[str, str] | None = None,
        subflows: Mapping[str, Flow] | None = None,
        goto_targets: Iterable[str] = (),
        schedules: Mapping[str, Schedule] | None = None,
    ) -> None:
        """`variables` override the flow's variable defaults (organisation settings);
        `VariableOverrideError` (an `EngineError`) for a name the flow does not declare,
        or a value that does not convert to its variable's type. `queues` maps queue ids
        the flow names (its `queues`) to the deployment's queue names. `subflows`: the
        flows its Subflow activities call, by the name they use (their variables join
        the call's: a name declared twice is a `VariableOverrideError`); `goto_targets`:
        the flows a GoTo may continue in (the runtime swaps engines on `GoToFlow`);
        `schedules`: business-hours schedules by id (over the flow's own `schedules`)."""
        self._index = FlowIndex(flow, variables, queues, subflows, goto_targets, schedules)

    @property
    def flow(self) -> Flow:
        return self._index.flow

    def start(
        self, event: CallStarted, now: float, *, history: Sequence[TraceEntry] = ()
    ) -> tuple[CallState, list[Command]]:
        """A new call (`history`: the trace of the flow a GoTo came from, kept first)."""
        state = CallState(
            call_id=event.call_id,
            variables=self._index.initial_variables(),
            trace=list(history),
        )
        state.outputs["NewPhoneContact"] = {
            "ANI": event.ani,
            "DNIS": event.dnis,
            "InteractionId": event.call_id,
            "Channel": event.channel,
        }
        if event.started_at is not None:
            state.clock_offset = event.started_at - now
            state.outputs["NewPhoneContact"]["StartTime"] = datetime.fromtimestamp(
                event.started_at, UTC
            ).isoformat()
        run = Interpreter(self._index, state, now)
        cursor = Cursor(flow=MAIN_FLOW, activity=self._index.flow.start)
        state.main = cursor
        _guarded(run, lambda: run.drive(cursor))
        return state, run.commands

    def step(self, state: CallState, event: Event, now: float) -> tuple[CallState, list[Command]]:
        run = Interpreter(self._index, state, now)
        if state.finished:
            _ignore(run, event, "the call has finished")
            return state, run.commands
        if not isinstance(event, _EVENT_TYPES):  # a caller outside mypy's reach
            _ignore(run, event, "not an event the engine knows")
        else:
            _guarded(run, lambda: _dispatch(run, event))
        return state, run.commands


def _guarded(run: Interpreter, action: Callable[[], None]) -> None:
    """The engine never raises on an event: an engine bug becomes a global error."""
    try:
        action()
    except Exception as exc:
        run.trace(flow=MAIN_FLOW, activity="engine", kind="engine_error", error=describe(exc))
        try:
            lifecycle.default_handler(run, describe(exc))
        except Exception as again:
            run.trace(flow=MAIN_FLOW, activity="engine", kind="engine_error", error=describe(again))


def _ignore(run: Interpreter, event: object, reason: str) -> None:
    # A caller can send stray events without end (keys pressed during the hold music):
    # a run of the same ignored event is one entry with a count, so the trace, and the
    # state saved after every event, stay bounded.
    trace = run.state.trace
    last = trace[-1] if trace else None
    if (
        last is not None
        and last.kind == "ignored"
        and last.activity == type(event).__name__
        and last.inputs.get("reason") == reason
    ):
        repeated = last.inputs.get("repeated", 1)
        inputs = {**last.inputs, "repeated": (repeated if isinstance(repeated, int) else 1) + 1}
        trace[-1] = dataclasses.replace(last, ended_at=run.now, inputs=inputs)
        return
    run.trace(
        flow=MAIN_FLOW,
        activity=type(event).__name__,
        kind="ignored",
        inputs={"event": type(event).__name__, "reason": reason},
    )


def _cursors(state: CallState) -> list[Cursor]:
    return [state.main, *state.side] if state.main is not None else list(state.side)


def _waiting(state: CallState, wait_id: str) -> Cursor | None:
    for cursor in _cursors(state):
        if cursor.wait_id == wait_id and cursor.wait is not Wait.NONE:
            return cursor
    return None


def _activity(run: Interpreter, cursor: Cursor, kind: type[_A]) -> _A:
    activity = run.index.activity(cursor.flow, cursor.activity or "")
    if not isinstance(activity, kind):
        raise TypeError(f"{cursor.activity!r} is not a {kind.__name__}")
    return activity


# -- media events ---------------------------------------------------------------------------


def _prompt_done(run: Interpreter, event: PromptDone) -> None:
    cursor = _waiting(run.state, event.prompt_id)
    if cursor is None:
        _ignore(run, event, f"stale prompt {event.prompt_id}")
        return
    run.state.media_failures = 0
    if cursor.flow == DEFAULT_ERROR_FLOW:
        if cursor.wait is Wait.APOLOGY:
            lifecycle.apology_done(run, cursor)
        return  # looped hold music reporting an end: keep holding
    if cursor.wait is Wait.PROMPT:
        run.resume(cursor, lambda: media.message_done(run, cursor, interrupted=event.interrupted))
    elif cursor.wait is Wait.MENU:
        menu = _activity(run, cursor, MenuActivity)
        run.resume(cursor, lambda: media.menu_prompt_done(run, cursor, menu))
    elif cursor.wait is Wait.COLLECT:
        entry = _activity(run, cursor, CollectDigitsActivity)
        run.resume(cursor, lambda: collect.prompt_done(run, cursor, entry))
    else:
        _ignore(run, event, "music loops until stopped")


def _prompt_failed(run: Interpreter, event: PromptFailed) -> None:
    cursor = _waiting(run.state, event.prompt_id)
    if cursor is None:
        _ignore(run, event, f"stale prompt {event.prompt_id}")
        return
    state = run.state
    state.media_failures += 1
    if state.media_failures >= MAX_MEDIA_FAILURES and not (state.ended or state.connected):
        run.trace(
            flow=cursor.flow,
            activity=cursor.activity or cursor.flow,
            kind="media_failed",
            inputs={"failures": state.media_failures},
            error=event.reason,
        )
        lifecycle.end_call(run, "media_failed", disconnect=True)
    elif cursor.flow == DEFAULT_ERROR_FLOW:
        lifecycle.default_media_failed(run, cursor, event.reason)
    else:
        run.resume(cursor, lambda: media.prompt_failed(run, cursor, event.reason))


def _digits(run: Interpreter, event: DigitsCollected) -> None:
    cursor = next((c for c in _cursors(run.state) if c.wait in (Wait.MENU, Wait.COLLECT)), None)
    if cursor is None:
        _ignore(run, event, "no menu is listening")
        return
    run.state.media_failures = 0
    if cursor.wait is Wait.COLLECT:
        entry = _activity(run, cursor, CollectDigitsActivity)
        run.resume(cursor, lambda: collect.keys(run, cursor, entry, event.digits))
        return
    menu = _activity(run, cursor, MenuActivity)
    run.resume(cursor, lambda: media.menu_digits(run, cursor, menu, event.digits))


def _timer(run: Interpreter, event: TimerFired) -> None:
    state = run.state
    if state.timers.pop(event.timer_id, None) is None:
        _ignore(run, event, f"stale timer {event.timer_id}")
        return
    cursor = next((c for c in _cursors(state) if c.timer_id == event.timer_id), None)
    if cursor is None:
        _ignore(run, event, f"nobody waits for timer {event.timer_id}")
        return
    state.media_failures = 0
    cursor.timer_id = None
    if cursor.wait is Wait.MENU:
        menu = _activity(run, cursor, MenuActivity)
        run.resume(cursor, lambda: media.menu_timeout(run, cursor, menu))
    elif cursor.wait is Wait.MUSIC:
        run.resume(cursor, lambda: media.music_timer(run, cursor))
    elif cursor.wait is Wait.HTTP:
        run.resume(cursor, lambda: activities.http_timer(run, cursor))
    elif cursor.wait is Wait.COLLECT:
        entry = _activity(run, cursor, CollectDigitsActivity)
        run.resume(cursor, lambda: collect.timeout(run, cursor, entry))
    elif cursor.wait in (Wait.LOOKUP, Wait.TRANSFER, Wait.BOT):
        run.resume(cursor, lambda: routing.guard_expired(run, cursor))


def _http(run: Interpreter, event: HttpCompleted) -> None:
    state = run.state
    cursor = _waiting(state, event.request_id)
    if cursor is None or cursor.wait is not Wait.HTTP:
        if event.request_id in state.http_started.values():
            # An `http_start`ed request answered before its join: keep it for the join.
            state.http_results[event.request_id] = activities.completed_to_dict(event)
            return
        _ignore(run, event, f"stale request {event.request_id}")
        return
    activity = run.index.activity(cursor.flow, cursor.activity or "")
    if isinstance(activity, HttpJoinActivity):
        join = activity
        run.resume(cursor, lambda: activities.joined(run, cursor, join, event))
        return
    http = _activity(run, cursor, HttpRequestActivity)
    run.resume(cursor, lambda: activities.http_completed(run, cursor, http, event))


def _answer_for(run: Interpreter, event: Event, wait: Wait, wait_id: str) -> Cursor | None:
    cursor = _waiting(run.state, wait_id)
    if cursor is None or cursor.wait is not wait:
        _ignore(run, event, f"stale answer {wait_id}")
        return None
    return cursor


def _queue_looked_up(run: Interpreter, event: QueueLookedUp) -> None:
    cursor = _answer_for(run, event, Wait.LOOKUP, event.request_id)
    if cursor is not None:
        run.resume(cursor, lambda: routing.lookup_done(run, cursor, event))


def _transfer_done(run: Interpreter, event: TransferDone) -> None:
    cursor = _answer_for(run, event, Wait.TRANSFER, event.transfer_id)
    if cursor is not None:
        run.resume(cursor, lambda: routing.transfer_done(run, cursor, event))


def _bot_ended(run: Interpreter, event: VirtualAgentEnded) -> None:
    cursor = _answer_for(run, event, Wait.BOT, event.session_id)
    if cursor is not None:
        run.resume(cursor, lambda: routing.bot_ended(run, cursor, event))


def _callback_failed(run: Interpreter, event: CallbackFailed) -> None:
    state = run.state
    if state.callback is None or state.connected or state.ended:
        _ignore(run, event, "no callback is pending")
        return
    lifecycle.callback_failed(run, event.reason)


# -- contact center events ------------------------------------------------------------------


def _queue_updated(run: Interpreter, event: QueueUpdated) -> None:
    run.state.outputs["Queue"] = {
        "name": event.queue,
        "position": event.position,
        "estimatedWaitTime": event.estimated_wait_s,
    }


def _agent_offered(run: Interpreter, event: AgentOffered) -> None:
    state = run.state
    if state.ended or state.connected:
        _ignore(run, event, "no caller waits for an agent")
        return
    state.offered = AgentInfo(agent_id=event.agent_id, name=event.agent_name)
    state.outputs["Agent"] = {"id": event.agent_id, "name": event.agent_name}
    lifecycle.start_event_flow(run, EventName.AGENT_OFFERED.value, {"agent": event.agent_id})


def _agent_answered(run: Interpreter, event: AgentAnswered) -> None:
    state = run.state
    if state.ended or state.connected:
        _ignore(run, event, "the caller has ended or is already connected")
        return
    state.agent = AgentInfo(agent_id=event.agent_id, name=event.agent_name)
    state.offered = None
    state.connected = True
    if state.callback is not None:
        state.callback.connected = True  # the agent took the callback
    state.queue = None  # the contact center took the contact out of its queue
    state.outputs["Agent"] = {"id": event.agent_id, "name": event.agent_name}
    if state.main is not None:
        lifecycle.abort(run, state.main, "agent answered")  # the main flow stops here
    for cursor in [c for c in state.side if c.wait in lifecycle.MEDIA_WAITS]:
        lifecycle.abort(run, cursor, "agent answered")
    run.emit(StopMedia())
    lifecycle.start_event_flow(run, EventName.AGENT_ANSWERED.value, {"agent": event.agent_id})


def _ani_updated(run: Interpreter, event: AniUpdated) -> None:
    state = run.state
    contact = state.outputs.setdefault("NewPhoneContact", {})
    previous = contact.get("ANI")
    if state.ended or event.ani == previous:
        _ignore(run, event, "the contact has ended" if state.ended else "the same number")
        return
    contact["ANI"] = event.ani
    lifecycle.start_event_flow(
        run, EventName.ANI_UPDATED.value, {"ani": event.ani, "previous": previous}
    )


def _agent_disconnected(run: Interpreter, event: AgentDisconnected) -> None:
    state = run.state
    if not state.connected or state.ended:
        _ignore(run, event, "no agent is connected")
        return
    name = EventName.AGENT_DISCONNECTED.value
    if state.survey is not None and not (state.hung_up or state.disconnected):
        survey, state.survey = state.survey, None
        state.connected = False  # the agent has gone; the caller stays for the survey
        state.agent = None
        if lifecycle.start_event_flow(run, lifecycle.SURVEY, {"survey": survey}):
            return
        run.trace(
            flow=lifecycle.SURVEY,
            activity="feedback",
            kind="survey_missing",
            inputs={"survey": survey},
            error="the flow has no post_call_survey event flow: no survey to run",
        )
        lifecycle.end_call(run, name, disconnect=True)
        return
    if not lifecycle.start_event_flow(run, name, {"agent": event.agent_id}):
        lifecycle.end_call(run, name, disconnect=True)


def _hung_up(run: Interpreter, event: CallerHungUp) -> None:
    state = run.state
    if state.ended:
        _ignore(run, event, "the contact has already ended")
        return
    state.hung_up = True
    lifecycle.end_call(run, "caller_hung_up", disconnect=False)


_EVENT_TYPES: Final = get_args(Event)


def _dispatch(run: Interpreter, event: Event) -> None:
    match event:
        case CallStarted():
            _ignore(run, event, "the call has already started")
        case PromptDone():
            _prompt_done(run, event)
        case PromptFailed():
            _prompt_failed(run, event)
        case DigitsCollected():
            _digits(run, event)
        case TimerFired():
            _timer(run, event)
        case HttpCompleted():
            _http(run, event)
        case QueueUpdated():
            _queue_updated(run, event)
        case QueueFailed():
            lifecycle.queue_failed(run, event)
        case QueueLookedUp():
            _queue_looked_up(run, event)
        case TransferDone():
            _transfer_done(run, event)
        case VirtualAgentEnded():
            _bot_ended(run, event)
        case CallbackFailed():
            _callback_failed(run, event)
        case AgentOffered():
            _agent_offered(run, event)
        case AgentAnswered():
            _agent_answered(run, event)
        case AgentDisconnected():
            _agent_disconnected(run, event)
        case CallerHungUp():
            _hung_up(run, event)
        case AniUpdated():
            _ani_updated(run, event)
        case _:
            assert_never(event)
