"""One engine step in progress: the state, the clock reading, the commands so far. Layer 2 (engine).

`Run` holds what every activity and the call's lifecycle rules use: ids, templates,
timers, the trace. The interpreter loop (`drive`, `take`) is abstract here and lives in
`dipflow.engine.interpreter`, which imports the activity modules to build its table of
executors. The activity modules and `lifecycle` call back into the loop through this
class, so they import this module only: the engine's imports go one way
(context <- lifecycle <- activities/media <- interpreter <- core).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from dipflow.engine.commands import CancelTimer, Command, SetTimer
from dipflow.engine.index import FlowIndex
from dipflow.engine.results import Done, Result
from dipflow.engine.state import CallState, Cursor, TraceEntry
from dipflow.flow import expressions
from dipflow.flow.model import ActivityBase


class Run(ABC):
    """Context of one `Engine.start`/`Engine.step` call (the loop: `Interpreter`)."""

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

    # -- the interpreter loop (dipflow.engine.interpreter) -----------------------------

    @abstractmethod
    def drive(self, cursor: Cursor) -> None:
        """Run `cursor`'s flow until it waits or ends."""

    @abstractmethod
    def take(self, cursor: Cursor, activity: ActivityBase, result: Done) -> bool:
        """Close the activity and move the cursor along `result.output`.

        False when the flow cannot go on (global error handling took over).
        """


Executor = Callable[[Run, Cursor, Any], Result]
"""An activity kind's implementation: `(run, cursor, activity) -> Result`."""
