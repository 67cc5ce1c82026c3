"""One engine step in progress: the state, the clock reading, the commands so far.

`Run.drive` is the interpreter loop: execute the cursor's activity, follow the
output it took, repeat until the flow waits for something or ends. Activities are
executed by the functions in `EXECUTORS` (one module per family); whatever they
raise becomes their `error` output, so nothing escapes to the caller of the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from dipflow.engine import lifecycle
from dipflow.engine.commands import CancelTimer, Command, SetTimer
from dipflow.engine.index import FlowIndex
from dipflow.engine.results import FAILURE_OUTPUTS, Done, Executor, Result, Stopped, describe
from dipflow.engine.state import CallState, Cursor, TraceEntry, Wait
from dipflow.flow import expressions
from dipflow.flow.model import ActivityBase


class Run:
    """Context of one `Engine.start`/`Engine.step` call."""

    __slots__ = ("commands", "index", "now", "state", "steps")

    def __init__(self, index: FlowIndex, state: CallState, now: float) -> None:
        self.index = index
        self.state = state
        self.now = now
        self.commands: list[Command] = []
        self.steps = 0

    # -- small services for activities -----------------------------------------------

    def emit(self, command: Command) -> None:
        self.commands.append(command)

    def new_id(self, prefix: str) -> str:
        """A deterministic id, unique within the call: `<prefix>#<n>`."""
        self.state.seq += 1
        return f"{prefix}#{self.state.seq}"

    def render(self, template: str) -> str:
        if "{" not in template:
            return template  # plain text: no need to go through Jinja2
        return expressions.render(template, self.state.context(self.now))

    def evaluate(self, expression: str) -> Any:
        return expressions.evaluate(expression, self.state.context(self.now))

    def value_of(self, expression: str) -> Any:
        """The native value of `{{ x }}` or `x` (a map stays a map, "true" stays text)."""
        return expressions.value_of(expression, self.state.context(self.now))

    def queue_name(self, template: str) -> str:
        """A queue field rendered, then mapped from a queue id to its dipflow name."""
        queue = self.render(template).strip()
        return self.index.queues.get(queue, queue)

    def expose(self, cursor: Cursor, values: dict[str, Any]) -> None:
        """Publish the running activity's output variables (`<activity id>.<name>`, as
        Webex names them: `Menu.OptionEntered`, `Collect.DigitsEntered`)."""
        namespace = cursor.activity or cursor.flow
        self.state.outputs[namespace] = {**self.state.outputs.get(namespace, {}), **values}

    def set_timer(self, cursor: Cursor, delay_s: float) -> str:
        timer_id = self.new_id(cursor.activity or cursor.flow) + ":timer"
        at = self.now + delay_s
        self.state.timers[timer_id] = at
        cursor.timer_id = timer_id
        self.emit(SetTimer(timer_id=timer_id, at=at))
        return timer_id

    def cancel_timer(self, cursor: Cursor) -> None:
        timer_id = cursor.timer_id
        if timer_id is None:
            return
        cursor.timer_id = None
        if self.state.timers.pop(timer_id, None) is not None:
            self.emit(CancelTimer(timer_id=timer_id))

    @property
    def caller_gone(self) -> bool:
        state = self.state
        return state.hung_up or state.disconnected or state.ended

    # -- trace -------------------------------------------------------------------------

    def trace(
        self,
        *,
        flow: str,
        activity: str,
        kind: str,
        inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        output_taken: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record something finished at once (not an activity that waits)."""
        self.state.trace.append(
            TraceEntry(
                flow=flow,
                activity=activity,
                kind=kind,
                started_at=self.now,
                ended_at=self.now,
                inputs=self._mask(inputs or {}),
                outputs=self._mask(outputs or {}),
                output_taken=output_taken,
                error=error,
            )
        )

    def open(self, cursor: Cursor, kind: str) -> None:
        """An activity of `cursor` starts (its trace entry is written when it waits or ends:
        one entry object per activity, built once)."""
        cursor.kind = kind
        cursor.started_at = self.now
        cursor.inputs = {}
        cursor.entry = -1

    def inputs(self, cursor: Cursor, inputs: dict[str, Any]) -> None:
        """Record the rendered inputs of the cursor's running activity."""
        cursor.inputs = inputs

    def park(self, cursor: Cursor) -> None:
        """The running activity waits: show it in the trace as open (`ended_at` None)."""
        if cursor.kind and cursor.entry < 0:
            cursor.inputs = self._mask(cursor.inputs)
            cursor.entry = len(self.state.trace)
            self.state.trace.append(
                TraceEntry(
                    flow=cursor.flow,
                    activity=cursor.activity or "",
                    kind=cursor.kind,
                    started_at=cursor.started_at,
                    inputs=cursor.inputs,
                )
            )

    def close(
        self,
        cursor: Cursor,
        *,
        output: str | None,
        outputs: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        if not cursor.kind:
            return
        entry = TraceEntry(
            flow=cursor.flow,
            activity=cursor.activity or "",
            kind=cursor.kind,
            started_at=cursor.started_at,
            ended_at=self.now,
            inputs=self._mask(cursor.inputs),
            outputs=self._mask(outputs) if outputs else {},
            output_taken=output,
            error=error,
        )
        if cursor.entry >= 0:
            self.state.trace[cursor.entry] = entry
        else:
            self.state.trace.append(entry)
        cursor.kind = ""
        cursor.inputs = {}
        cursor.entry = -1

    def _mask(self, data: dict[str, Any]) -> dict[str, Any]:
        masker = self.index.masker
        return masker.mask(data, self.state.variables) if masker.active and data else data

    # -- the interpreter loop ----------------------------------------------------------

    def drive(self, cursor: Cursor) -> None:
        """Run `cursor`'s flow until it waits or ends."""
        index = self.index
        limit = index.settings.max_steps_per_event
        while True:
            activity_id = cursor.activity
            if activity_id is None:
                lifecycle.flow_ended(self, cursor)
                return
            self.steps += 1
            if self.steps > limit:
                reason = f"more than {limit} activities in one step: a loop that never waits"
                lifecycle.global_error(self, cursor, reason)
                return
            activity = index.activity(cursor.flow, activity_id)
            if activity is None:
                lifecycle.global_error(self, cursor, f"no activity {activity_id!r}")
                return
            self.open(cursor, activity.kind)
            try:
                result = EXECUTORS[activity.kind](self, cursor, activity)
            except Exception as exc:  # an activity never takes the engine down
                result = Done(output="error", error=describe(exc))
            if result is None:
                self.park(cursor)
                return
            if isinstance(result, Stopped):
                return
            if not self.take(cursor, activity, result):
                return

    def resume(self, cursor: Cursor, handler: Callable[[], Result]) -> None:
        """Deliver an event to a waiting cursor through `handler`, then carry on."""
        try:
            result = handler()
        except Exception as exc:
            result = Done(output="error", error=describe(exc))
        if result is None:
            self.park(cursor)
            return
        if isinstance(result, Stopped):
            return
        activity = self.index.activity(cursor.flow, cursor.activity) if cursor.activity else None
        if activity is None:
            lifecycle.flow_ended(self, cursor)
            return
        if self.take(cursor, activity, result):
            self.drive(cursor)

    def take(self, cursor: Cursor, activity: ActivityBase, result: Done) -> bool:
        """Close the activity and move the cursor along `result.output`.

        False when the flow cannot go on (global error handling took over).
        """
        self.cancel_timer(cursor)
        cursor.wait = Wait.NONE
        cursor.wait_id = None
        cursor.menu_phase = None
        output = result.output
        wiring = self.index.wiring(cursor.flow, cursor.activity or "")
        target = wiring.get(output)
        taken = output
        if target is None and output in FAILURE_OUTPUTS and output != "error":
            target = wiring.get("error")
            if target is not None:
                taken = "error"
        self.close(cursor, output=taken, outputs=result.outputs, error=result.error)
        if target is not None:
            cursor.activity = target
            return True
        if output in FAILURE_OUTPUTS:
            reason = result.error or f"output {output!r} of {cursor.activity!r} is not wired"
            lifecycle.global_error(self, cursor, f"{activity.kind} {cursor.activity}: {reason}")
            return False
        cursor.activity = None  # an unwired ordinary output ends the flow
        return True


def _executors() -> dict[str, Executor]:
    from dipflow.engine import activities, collect, logic, media, routing

    return {
        **activities.EXECUTORS,
        **media.EXECUTORS,
        **collect.EXECUTORS,
        **logic.EXECUTORS,
        **routing.EXECUTORS,
    }


EXECUTORS: Final[dict[str, Executor]] = _executors()
