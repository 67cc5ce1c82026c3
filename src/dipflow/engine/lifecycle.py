"""The call around the flows: event flows, the end of the call, global error handling.

Layer 2 (engine).

Rules (see docs/engine.md):

* When the main flow (or the `global_error` flow standing in for it) ends while the
  caller is neither queued nor with an agent, the engine hangs up: a caller is never
  left in silence.
* The call ends once (caller hung up, `Disconnect`, agent hung up): timers of
  media activities are cancelled, the contact is dequeued, `contact_ended` runs,
  and `CallFinished` follows when no event flow is still waiting (for a data dip).
* An unwired failure in the main flow runs the flow's `global_error` event flow,
  else the default handler: keep a queued caller waiting, else queue to
  `settings.fallback_queue`, else apologise and hang up. A failure inside
  `global_error` goes to the default handler. A failure in another event flow
  (a screen pop) stops that event flow only: it must not disturb a caller who is
  already talking to an agent.
"""

from __future__ import annotations

from typing import Final

from dipflow.engine import queueing
from dipflow.engine.commands import (
    CallFinished,
    Dequeue,
    Disconnect,
    Enqueue,
    PlayMusic,
    StopMedia,
)
from dipflow.engine.context import Run
from dipflow.engine.events import QueueFailed
from dipflow.engine.results import Done
from dipflow.engine.speech import render_apology
from dipflow.engine.state import (
    DEFAULT_ERROR_FLOW,
    MAIN_FLOW,
    CallState,
    Cursor,
    QueueInfo,
    Wait,
)
from dipflow.engine.values import cad
from dipflow.flow.model import (
    EventName,
    QueueContactActivity,
    QueueToAgentActivity,
    SubflowActivity,
)

GLOBAL_ERROR: Final = EventName.GLOBAL_ERROR.value
SURVEY: Final = EventName.POST_CALL_SURVEY.value
MAIN_LIKE: Final = frozenset({MAIN_FLOW, GLOBAL_ERROR, DEFAULT_ERROR_FLOW, SURVEY})
"""Flows that hold the caller's attention (at most one at a time, in `CallState.main`)."""
MEDIA_WAITS: Final = frozenset(
    {Wait.PROMPT, Wait.MENU, Wait.MUSIC, Wait.APOLOGY, Wait.COLLECT, Wait.BOT}
)


def detach(run: Run, cursor: Cursor) -> None:
    state = run.state
    if state.main is cursor:
        state.main = None
    elif cursor in state.side:
        state.side.remove(cursor)


def abort(run: Run, cursor: Cursor, because: str, *, error: str | None = None) -> None:
    """Stop a cursor wherever it is (its open activity is closed in the trace)."""
    run.cancel_timer(cursor)
    run.close(cursor, output=None, outputs={"stopped": because}, error=error)
    cursor.wait = Wait.NONE
    cursor.wait_id = None
    detach(run, cursor)


def start_event_flow(run: Run, name: str, inputs: dict[str, object] | None = None) -> bool:
    """Run the event flow `name` if the flow has one; as the main flow for global_error."""
    start = run.index.event_flow_start(name)
    run.trace(flow=name, activity=name, kind="event", inputs=dict(inputs or {}))
    if start is None:
        return False
    cursor = Cursor(flow=name, activity=start)
    if name in (GLOBAL_ERROR, SURVEY):
        run.state.main = cursor
    else:
        run.state.side.append(cursor)
    run.drive(cursor)
    return True


def return_from_subflow(run: Run, cursor: Cursor, *, error: str | None = None) -> None:
    """The cursor's subflow is over: back to its Subflow activity, which takes `out` (its
    `returns` copied from the subflow's variables) or, after `error`, `error`."""
    frame = cursor.frames.pop()
    cursor.flow, cursor.activity = frame.flow, frame.activity
    activity = run.index.activity(frame.flow, frame.activity)
    if not isinstance(activity, SubflowActivity):  # pragma: no cover - frames name one
        global_error(run, cursor, f"lost the subflow activity {frame.activity!r}")
        return
    variables = run.state.variables
    returned = {mine: variables.get(theirs) for mine, theirs in activity.returns.items()}
    if error is None:
        variables.update(returned)
    run.open(cursor, "subflow_return")
    result = Done(output="error" if error else "out", outputs=returned, error=error)
    if run.take(cursor, activity, result):
        run.drive(cursor)


def flow_ended(run: Run, cursor: Cursor) -> None:
    if cursor.frames:
        return_from_subflow(run, cursor)
        return
    detach(run, cursor)
    state = run.state
    if not state.ended:
        if cursor.flow in MAIN_LIKE and state.callback is not None and not state.connected:
            # The caller asked to be called back: their leg ends, their place stays.
            end_call(run, "callback_requested", disconnect=True)
        elif cursor.flow in MAIN_LIKE and not state.connected:
            if state.queue is None:
                end_call(run, "flow_ended", disconnect=True)
            elif state.main is None:
                # Queued, and the flow has nothing more to play: hold music, not silence.
                _hold(run, "the flow ended while the caller waits in queue", state.queue.queue)
        elif cursor.flow == EventName.AGENT_DISCONNECTED.value:
            end_call(run, "agent_disconnected", disconnect=True)
    check_finished(run)


def _callback_waits(state: CallState) -> bool:
    callback = state.callback
    return callback is not None and not callback.connected and not state.connected


def callback_failed(run: Run, reason: str) -> None:
    """The callback could not be placed: its event flow runs, then the contact ends."""
    state = run.state
    state.callback = None
    start_event_flow(run, EventName.CALLBACK_FAILED.value, {"reason": reason})
    if state.main is None and not state.ended:
        end_call(run, "callback_failed", disconnect=True)


def check_finished(run: Run) -> None:
    state = run.state
    if state.ended and not state.finished and state.main is None and not state.side:
        state.finished = True
        run.emit(CallFinished())


def end_call(run: Run, reason: str, *, disconnect: bool) -> None:
    state = run.state
    if state.ended:
        return
    if disconnect and not state.hung_up and not state.disconnected:
        run.emit(Disconnect(reason=reason))
        state.disconnected = True
    if state.main is not None:
        abort(run, state.main, reason)
    for cursor in [c for c in state.side if c.wait in MEDIA_WAITS]:
        abort(run, cursor, reason)
    if _callback_waits(state) and state.queue is not None:
        # The contact lives on without its caller until an agent takes the callback
        # (AgentAnswered) or it fails (CallbackFailed): no Dequeue, no contact_ended yet.
        run.trace(
            flow=MAIN_FLOW,
            activity="callback",
            kind="callback_pending",
            inputs={"queue": state.queue.queue, "reason": reason},
        )
        return
    if state.queue is not None:
        run.emit(Dequeue(queue=state.queue.queue))
        state.queue = None
    state.ended = True
    state.connected = False
    start_event_flow(run, EventName.CONTACT_ENDED.value, {"reason": reason})
    check_finished(run)


# -- errors -------------------------------------------------------------------------------


def global_error(run: Run, cursor: Cursor, reason: str) -> None:
    if cursor.frames:
        # A failure the subflow does not handle is its Subflow activity's `error`.
        run.trace(flow=cursor.flow, activity=cursor.activity or cursor.flow,
                  kind="subflow_error", error=reason)  # fmt: skip
        run.cancel_timer(cursor)
        run.close(cursor, output=None, error=reason)
        return_from_subflow(run, cursor, error=reason)
        return
    flow = cursor.flow
    abort(run, cursor, "error", error=reason)
    run.trace(flow=flow, activity=cursor.activity or flow, kind="global_error", error=reason)
    state = run.state
    if state.ended:
        check_finished(run)
        return
    if flow == MAIN_FLOW and run.index.has_event_flow(GLOBAL_ERROR):
        run.steps = 0  # the handler gets a budget of its own
        start_event_flow(run, GLOBAL_ERROR, {"error": reason, "activity": cursor.activity})
    elif flow in MAIN_LIKE:
        default_handler(run, reason)
    elif flow == EventName.AGENT_DISCONNECTED.value:
        end_call(run, "agent_disconnected", disconnect=True)


def default_handler(run: Run, reason: str) -> None:
    """Never leave the caller in silence: hold, queue to the fallback, or apologise."""
    state = run.state
    if state.ended or state.connected:
        return
    if state.main is not None:
        abort(run, state.main, "error")
    fallback = run.index.settings.fallback_queue
    if state.queue is not None:
        _hold(run, reason, state.queue.queue)
    elif fallback and not state.default_queue_tried:
        state.default_queue_tried = True
        run.emit(Enqueue(queue=fallback, data=cad(run.index.cad_variables, state.variables)))
        state.queue = QueueInfo(queue=fallback, flow=DEFAULT_ERROR_FLOW, activity=None)
        _hold(run, reason, fallback)
    else:
        apologise(run, reason)


def _hold(run: Run, reason: str, queue: str) -> None:
    cursor = Cursor(flow=DEFAULT_ERROR_FLOW, activity="hold", wait=Wait.MUSIC)
    run.state.main = cursor
    run.open(cursor, "default_hold")
    run.inputs(cursor, {"queue": queue, "error": reason})
    run.park(cursor)
    cursor.wait_id = run.new_id("hold")
    run.emit(PlayMusic(prompt_id=cursor.wait_id))


def apologise(run: Run, reason: str) -> None:
    settings = run.index.settings
    cursor = Cursor(flow=DEFAULT_ERROR_FLOW, activity="apology", wait=Wait.APOLOGY)
    run.state.main = cursor
    run.open(cursor, "default_apology")
    run.inputs(cursor, {"text": settings.apology_prompt, "error": reason})
    run.park(cursor)
    cursor.wait_id = run.new_id("apology")
    run.emit(render_apology(run, cursor.wait_id))


def apology_done(run: Run, cursor: Cursor) -> None:
    run.close(cursor, output="out")
    detach(run, cursor)
    end_call(run, "error", disconnect=True)


def default_media_failed(run: Run, cursor: Cursor, reason: str) -> None:
    if cursor.wait is Wait.APOLOGY:
        apology_done(run, cursor)
    else:
        run.close(cursor, output="error", error=reason)
        detach(run, cursor)
        apologise(run, reason)


# -- queue failures -------------------------------------------------------------------------


def queue_failed(run: Run, event: QueueFailed) -> None:
    state = run.state
    info = state.queue
    if info is None or info.queue != event.queue or state.connected:
        run.trace(
            flow=MAIN_FLOW,
            activity="QueueFailed",
            kind="ignored",
            inputs={"queue": event.queue, "reason": event.reason},
        )
        return
    found = run.index.activity(info.flow, info.activity) if info.activity is not None else None
    activity = found if isinstance(found, QueueContactActivity | QueueToAgentActivity) else None
    template: str | None = None
    if isinstance(activity, QueueContactActivity):
        template = activity.fallback_queue
    elif isinstance(activity, QueueToAgentActivity):
        template = activity.recovery_queue  # the named agent cannot take it: anyone there
    # A fallback given as a template of an organisation setting may render empty: none.
    fallback = run.queue_name(template) if template and not info.fallback_used else ""
    if (
        activity is not None
        and fallback
        and (fallback != info.queue or isinstance(activity, QueueToAgentActivity))
    ):
        queue = fallback
        priority, _ = queueing.priority(run, activity.priority)
        needs, relaxation = (
            queueing.skills(run, activity.skills, activity.relaxation)
            if isinstance(activity, QueueContactActivity)
            else ((), ())
        )
        run.emit(
            Enqueue(
                queue=queue,
                priority=priority,
                max_wait_s=(
                    activity.max_wait_s if isinstance(activity, QueueContactActivity) else None
                ),
                data=cad(run.index.cad_variables, state.variables),
                skills=needs,
                relaxation=relaxation,
            )
        )
        run.trace(
            flow=info.flow,
            activity=info.activity or "",
            kind="queue_fallback",
            inputs={"failed": event.queue, "reason": event.reason},
            outputs={"queue": queue},
        )
        info.queue = queue
        info.fallback_used = True
        return
    state.queue = None
    if state.callback is not None and _callback_waits(state):
        callback_failed(run, f"queue {event.queue} failed: {event.reason}")
        return
    if state.main is not None:
        # The caller hears music or a message of a flow that assumed an agent would come.
        if state.main.wait in MEDIA_WAITS:
            run.emit(StopMedia())
        abort(run, state.main, "queue failed")
    if activity is None or info.activity is None:
        apologise(run, f"queue {event.queue} failed: {event.reason}")
        return
    cursor = Cursor(flow=info.flow, activity=info.activity)
    state.main = cursor
    run.open(cursor, activity.kind)
    run.inputs(cursor, {"queue": event.queue, "event": "queue_failed"})
    result = Done(output="error", error=f"queue {event.queue} failed: {event.reason}")
    if run.take(cursor, activity, result):
        run.drive(cursor)
