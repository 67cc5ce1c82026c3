"""The start time a flow sees is the call's real date, not the runtime's timer clock."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from dipflow.channels.sim import SimCaller
from dipflow.runtime.runtime import Runtime


async def test_start_time_is_the_wall_clock_date(runtime: Runtime) -> None:
    before = time.time()
    caller = SimCaller()
    session = runtime.start_call(caller, ani="+14155550123", dnis="1", channel="sim")
    caller.attach(session)
    await asyncio.sleep(0.5)
    caller.hang_up()
    await asyncio.wait_for(session.done.wait(), 10)
    (summary,) = runtime.recent_calls(1)
    start = next(t for t in summary.trace if t["kind"] == "start")
    started = datetime.fromisoformat(start["outputs"]["StartTime"]).timestamp()
    assert before - 1 <= started <= time.time()
