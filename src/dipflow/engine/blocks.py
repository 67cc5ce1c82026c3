"""Building blocks flows expect: a loop counter and a percentage split. Layer 2 (engine).

Both are pure: the loop counts in the call state (`<id>.count`, kept across the call
like any activity output), the split hashes the call id with the activity id, so a call
replays to the same branch and the engine needs no randomness.
"""

from __future__ import annotations

import hashlib
from typing import Final

from dipflow.engine.context import Executor, Run
from dipflow.engine.results import Done, Result
from dipflow.engine.state import Cursor
from dipflow.flow.model import LoopActivity, SplitActivity


def loop(run: Run, cursor: Cursor, activity: LoopActivity) -> Result:
    namespace = cursor.activity or cursor.flow
    count = int(run.state.outputs.get(namespace, {}).get("count", 0)) + 1
    run.inputs(cursor, {"times": activity.times, "count": count})
    if count <= activity.times:
        run.expose(cursor, {"count": count})
        return Done(output="looping", outputs={"count": count})
    # Complete: the next arrival starts a new round (a menu reused later loops again).
    run.expose(cursor, {"count": 0})
    return Done(output="complete", outputs={"count": count})


def bucket(call_id: str, activity_id: str) -> int:
    """0..99, the same for the same call at the same activity."""
    digest = hashlib.sha256(f"{call_id}\0{activity_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def split(run: Run, cursor: Cursor, activity: SplitActivity) -> Result:
    point = bucket(run.state.call_id, cursor.activity or "")
    run.inputs(cursor, {"bucket": point, "percentages": dict(activity.percentages)})
    upper = 0
    for output, percent in activity.percentages.items():
        upper += percent
        if point < upper:
            return Done(output=output, outputs={"bucket": point})
    raise AssertionError("percentages add up to 100")  # the model guarantees it


EXECUTORS: Final[dict[str, Executor]] = {"loop": loop, "split": split}
