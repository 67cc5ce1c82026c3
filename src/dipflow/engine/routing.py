"""Activities that hand the contact to someone: an agent by name, a callback, a transfer,
a virtual agent; queue statistics; the post-call survey offer.

Each asks the runtime through a command and (except callback and feedback) waits for
its answer with a guard timer, so a runtime that never answers cannot leave the caller
in silence: the guard takes the activity's `error` output.
"""

from __future__ import annotations

from typing import Final

from dipflow.engine import lifecycle, queueing
from dipflow.engine.commands import (
    Dequeue,
    Enqueue,
    LookupQueue,
    Notice,
    RequestCallback,
    StartMediaStream,
    StartVirtualAgent,
    Transfer,
)
from dipflow.engine.context import Executor, Run
from dipflow.engine.events import QueueLookedUp, TransferDone, VirtualAgentEnded
from dipflow.engine.results import STOPPED, Done, Result
from dipflow.engine.state import CallbackInfo, Cursor, QueueInfo, Wait
from dipflow.engine.values import cad, render_body
from dipflow.flow.model import (
    BlindTransferActivity,
    CallbackActivity,
    FeedbackActivity,
    QueueLookupActivity,
    QueueToAgentActivity,
    StartMediaStreamActivity,
    VirtualAgentActivity,
)

_GONE: Final = "the caller is no longer on the line"
LOOKUP_GUARD_S: Final = 10.0
TRANSFER_GUARD_S: Final = 60.0
BOT_GUARD_S: Final = 3600.0
"""A bot conversation longer than an hour is taken as lost: the caller gets `error`."""


# -- queue to agent -------------------------------------------------------------------------


def queue_to_agent(run: Run, cursor: Cursor, activity: QueueToAgentActivity) -> Result:
    if run.caller_gone:
        return Done(output="error", error=_GONE)
    agent = run.render(activity.agent).strip()
    queue = run.queue_name(activity.reporting_queue)
    state = run.state
    data = cad(run.index.cad_variables, state.variables)
    priority, priority_note = queueing.priority(run, activity.priority)
    inputs = {"agent": agent, "lookup": activity.lookup.value, "queue": queue}
    if priority_note:
        inputs["priority_note"] = priority_note
    run.inputs(cursor, inputs)
    if not agent:
        return Done(output="error", error=f"agent {activity.agent!r} renders empty")
    if not queue:
        return Done(output="error", error="no reporting queue")
    if state.queue is not None:
        run.emit(Dequeue(queue=state.queue.queue))
    run.emit(
        Enqueue(
            queue=queue,
            priority=priority,
            data=data,
            agent=agent,
            agent_lookup=activity.lookup.value,
            park=activity.park,
        )
    )
    state.queue = QueueInfo(queue=queue, flow=cursor.flow, activity=cursor.activity)
    return Done(output="out", outputs={"queue": queue, "agent": agent})


# -- queue lookup ---------------------------------------------------------------------------


def queue_lookup(run: Run, cursor: Cursor, activity: QueueLookupActivity) -> Result:
    queue = run.queue_name(activity.queue)
    run.inputs(cursor, {"queue": queue, "lookback_minutes": activity.lookback_minutes})
    if not queue:
        return Done(output="error", error=f"queue {activity.queue!r} renders empty")
    request_id = run.new_id(cursor.activity or "lookup")
    run.emit(
        LookupQueue(request_id=request_id, queue=queue, lookback_s=activity.lookback_minutes * 60)
    )
    cursor.wait = Wait.LOOKUP
    cursor.wait_id = request_id
    run.set_timer(cursor, LOOKUP_GUARD_S)
    return None


def lookup_done(run: Run, cursor: Cursor, event: QueueLookedUp) -> Result:
    if not event.ok:
        reason = event.error or "queue statistics unavailable"
        run.expose(cursor, {"FailureCode": "lookup_failed", "FailureDescription": reason})
        return Done(output="error", error=reason)
    ewt_ms = -1 if event.estimated_wait_s is None else round(event.estimated_wait_s * 1000)
    # Webex's Get Queue Info output variables; one site here, so Current equals All.
    values = {
        "PIQ": event.position,
        "EWT": ewt_ms,
        "CallsQueuedNow": event.calls_queued,
        "LoggedOnAgentsAll": event.agents_logged_on,
        "LoggedOnAgentsCurrent": event.agents_logged_on,
        "AvailableAgentsAll": event.agents_available,
        "AvailableAgentsCurrent": event.agents_available,
        "OldestCallTime": round(event.oldest_wait_s * 1000),
    }
    run.expose(cursor, values)
    output = "insufficient_data" if event.estimated_wait_s is None else "out"
    return Done(output=output, outputs=values)


# -- callback -------------------------------------------------------------------------------


def callback(run: Run, cursor: Cursor, activity: CallbackActivity) -> Result:
    state = run.state
    number = run.render(activity.number).strip()
    caller_id = run.render(activity.caller_id).strip() if activity.caller_id else ""
    queue = run.queue_name(activity.queue) if activity.queue else ""
    run.inputs(cursor, {"number": number, "caller_id": caller_id, "queue": queue})
    if not number:
        return Done(output="error", error=f"callback number {activity.number!r} renders empty")
    if state.ended or state.connected:
        return Done(output="error", error="the contact is no longer waiting for an agent")
    if queue and (state.queue is None or state.queue.queue != queue):
        if state.queue is not None:
            run.emit(Dequeue(queue=state.queue.queue))
        run.emit(Enqueue(queue=queue, data=cad(run.index.cad_variables, state.variables)))
        state.queue = QueueInfo(queue=queue, flow=cursor.flow, activity=None)
    if state.queue is None:
        return Done(
            output="error",
            error="a callback keeps the caller's place in a queue: queue the contact first",
        )
    info = CallbackInfo(
        queue=state.queue.queue,
        number=number,
        caller_id=caller_id or state.caller_id,
    )
    state.callback = info
    run.emit(RequestCallback(queue=info.queue, number=number, caller_id=info.caller_id))
    return Done(output="out", outputs={"number": number, "queue": info.queue})


# -- blind transfer -------------------------------------------------------------------------


def blind_transfer(run: Run, cursor: Cursor, activity: BlindTransferActivity) -> Result:
    if run.caller_gone:
        return Done(output="error", error=_GONE)
    destination = run.render(activity.destination).strip()
    run.inputs(cursor, {"destination": destination})
    if not destination:
        return Done(output="error", error=f"destination {activity.destination!r} renders empty")
    transfer_id = run.new_id(cursor.activity or "transfer")
    run.emit(
        Transfer(transfer_id=transfer_id, destination=destination, caller_id=run.state.caller_id)
    )
    cursor.wait = Wait.TRANSFER
    cursor.wait_id = transfer_id
    run.set_timer(cursor, TRANSFER_GUARD_S)
    return None


def transfer_done(run: Run, cursor: Cursor, event: TransferDone) -> Result:
    if not event.ok:
        return Done(output="error", error=event.error or "the transfer failed")
    run.close(cursor, output=None, outputs={"transferred": True})
    cursor.activity = None
    lifecycle.detach(run, cursor)
    lifecycle.end_call(run, "transferred", disconnect=False)
    return STOPPED


# -- virtual agent --------------------------------------------------------------------------


def virtual_agent(run: Run, cursor: Cursor, activity: VirtualAgentActivity) -> Result:
    if run.caller_gone:
        return Done(output="error", error=_GONE)
    parameters = render_body(activity.parameters, run.render)
    run.inputs(cursor, {"connector": activity.connector, "parameters": parameters})
    if not activity.connector:
        reason = (
            "no virtual-agent connector is configured for this activity "
            "(map the Webex connector with --connector, or name one in `connector`)"
        )
        run.emit(Notice(kind="virtual_agent", text=f"{cursor.activity}: {reason}"))
        return Done(output="error", error=reason)
    session_id = run.new_id(cursor.activity or "bot")
    run.emit(
        StartVirtualAgent(
            session_id=session_id,
            connector=activity.connector,
            parameters=parameters if isinstance(parameters, dict) else {},
            event_name=activity.event_name,
            language=activity.language or run.index.settings.language,
        )
    )
    cursor.wait = Wait.BOT
    cursor.wait_id = session_id
    run.set_timer(cursor, BOT_GUARD_S)
    return None


def bot_ended(run: Run, cursor: Cursor, event: VirtualAgentEnded) -> Result:
    values = {
        "MetaData": dict(event.metadata),
        "StateEventName": event.state_event,
        "Transcript": event.transcript,
    }
    run.expose(cursor, values)
    return Done(output=event.outcome.value, outputs=values, error=event.error)


# -- media stream ---------------------------------------------------------------------------


def start_media_stream(run: Run, cursor: Cursor, activity: StartMediaStreamActivity) -> Result:
    destination = run.render(activity.destination).strip()
    run.inputs(cursor, {"destination": destination})
    if not destination:
        return Done(output="error", error=f"destination {activity.destination!r} renders empty")
    if run.caller_gone:
        return Done(output="error", error=_GONE)
    stream_id = run.new_id(cursor.activity or "stream")
    run.emit(StartMediaStream(stream_id=stream_id, destination=destination))
    return Done(output="out", outputs={"stream_id": stream_id})


# -- feedback -------------------------------------------------------------------------------


def feedback(run: Run, cursor: Cursor, activity: FeedbackActivity) -> Result:
    run.state.survey = activity.survey
    run.inputs(cursor, {"survey": activity.survey})
    return Done(output="out", outputs={"survey": activity.survey})


def guard_expired(run: Run, cursor: Cursor) -> Result:
    waited = {
        Wait.LOOKUP: "queue statistics",
        Wait.TRANSFER: "the transfer",
        Wait.BOT: "the virtual agent",
    }
    return Done(output="error", error=f"no answer about {waited.get(cursor.wait, 'it')}")


EXECUTORS: Final[dict[str, Executor]] = {
    "queue_to_agent": queue_to_agent,
    "queue_lookup": queue_lookup,
    "callback": callback,
    "blind_transfer": blind_transfer,
    "virtual_agent": virtual_agent,
    "feedback": feedback,
    "start_media_stream": start_media_stream,
}
