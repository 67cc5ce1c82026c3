"""What the runtime's simulated-call tests share: placing a call and reading what it said."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from dipflow.channels.sim import SimCaller, Speaker
from dipflow.runtime.runtime import Runtime
from dipflow.runtime.session import CallSession, StepRecord

DNIS = "+18005550100"


async def wait_until(predicate: Callable[[], Any], within_s: float = 10.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():  # noqa: ASYNC110 - polls state that callbacks set
            await asyncio.sleep(0.01)


def start(
    runtime: Runtime, ani: str, presses: list[str], **caller_options: Any
) -> tuple[SimCaller, CallSession, list[StepRecord]]:
    caller = SimCaller(presses=presses, **caller_options)
    session = runtime.start_call(caller, ani=ani, dnis=DNIS, channel="sim")
    caller.attach(session)
    steps: list[StepRecord] = []
    session.observe(steps.append)
    return caller, session, steps


def said(caller: SimCaller) -> str:
    return "\n".join(line.text for line in caller.transcript if line.speaker is Speaker.IVR)
