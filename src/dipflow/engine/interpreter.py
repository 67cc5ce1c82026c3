"""The interpreter loop of the engine. Layer 2 (engine).

`Interpreter.drive` executes the cursor's activity, follows the output it took, and
repeats until the flow waits for something or ends. Activities are executed by the
functions in `EXECUTORS` (one module per family); whatever they raise becomes their
`error` output, so nothing escapes to the caller of the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from dipflow.engine import (
    activities,
    blocks,
    collect,
    lifecycle,
    logic,
    media,
    routing,
    subflows,
)
from dipflow.engine.context import Executor, Run
from dipflow.engine.results import FAILURE_OUTPUTS, Done, Result, Stopped, describe
from dipflow.engine.state import Cursor, Wait
from dipflow.flow.model import ActivityBase

EXECUTORS: Final[dict[str, Executor]] = {
    **activities.EXECUTORS,
    **media.EXECUTORS,
    **collect.EXECUTORS,
    **logic.EXECUTORS,
    **routing.EXECUTORS,
    **blocks.EXECUTORS,
    **subflows.EXECUTORS,
}
"""Activity kind -> its implementation."""


class Interpreter(Run):
    """A `Run` with its loop: what `Engine.start`/`Engine.step` create."""

    __slots__ = ()

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
