"""Subflows and GoTo: a flow calling another flow, or handing the call to one. Layer 2.

A subflow runs in the same cursor: the Subflow activity pushes a `Frame` (its return
address) and the cursor moves into the `subflow:<name>` graph; when that graph ends
(`lifecycle.flow_ended`) or fails (`lifecycle.global_error`), the frame is popped and the
Subflow activity takes `out` (its `returns` copied back) or `error`. So menus, prompts
and queueing inside a subflow behave exactly as in the flow itself.

GoTo asks the runtime (`GoToFlow`) to continue the call in another flow's engine; here
the flow stops without ending the contact.
"""

from __future__ import annotations

from typing import Final

from dipflow.engine import lifecycle
from dipflow.engine.commands import Dequeue, GoToFlow, StopMedia
from dipflow.engine.context import Executor, Run
from dipflow.engine.results import STOPPED, Done, Result
from dipflow.engine.state import SUBFLOW_PREFIX, Cursor, Frame
from dipflow.flow.model import GoToActivity, SubflowActivity

MAX_DEPTH: Final = 10
"""Subflows calling subflows deeper than this are taken as a loop."""


def subflow(run: Run, cursor: Cursor, activity: SubflowActivity) -> Result:
    start = run.index.subflow_start(activity.flow)
    if start is None:
        return Done(output="error", error=f"no subflow named {activity.flow!r} is loaded")
    if len(cursor.frames) >= MAX_DEPTH:
        return Done(output="error", error=f"subflows nested deeper than {MAX_DEPTH}")
    values = {name: run.value_of(template) for name, template in activity.inputs.items()}
    run.state.variables.update(values)
    run.inputs(cursor, {"subflow": activity.flow, "inputs": values})
    # The activity's entry shows the call into the subflow; its return is traced apart.
    run.close(cursor, output="subflow", outputs={})
    cursor.frames.append(Frame(flow=cursor.flow, activity=cursor.activity or ""))
    cursor.flow = SUBFLOW_PREFIX + activity.flow
    cursor.activity = start
    run.drive(cursor)
    return STOPPED


def goto(run: Run, cursor: Cursor, activity: GoToActivity) -> Result:
    target = run.render(activity.flow).strip()
    run.inputs(cursor, {"flow": target})
    if target not in run.index.goto_targets:
        return Done(output="error", error=f"no flow named {target!r} to go to")
    state = run.state
    if run.caller_gone:
        return Done(output="error", error="the caller is no longer on the line")
    if state.queue is not None:
        run.emit(Dequeue(queue=state.queue.queue))
        state.queue = None
    run.emit(StopMedia())
    run.close(cursor, output=None, outputs={"goto": target})
    cursor.activity = None
    lifecycle.detach(run, cursor)
    for side in list(state.side):  # this flow's event flows end with it
        lifecycle.abort(run, side, f"went to flow {target}")
    run.emit(GoToFlow(flow=target))
    state.ended = state.finished = True  # the next engine carries the call on
    return STOPPED


EXECUTORS: Final[dict[str, Executor]] = {"subflow": subflow, "goto": goto}
