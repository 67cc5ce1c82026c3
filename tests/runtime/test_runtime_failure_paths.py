"""Failure paths of a call's life through the real runtime and the sim channel: a caller
who leaves while a data dip is in flight must not break the dips of the callers after."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from dipflow.channels.sim import SimCaller, Speaker
from dipflow.emulator.demo_data import demo_caller
from dipflow.emulator.testing import RunningEmulator
from dipflow.engine.commands import HttpRequest
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


async def test_hang_up_during_the_breakers_probe_does_not_wedge_the_connector(
    emulator: RunningEmulator, runtime: Runtime
) -> None:
    """After an outage (here: a 429 that holds the breaker open) one probe is let through;
    the caller whose dip is that probe hangs up while the CRM is slow. The cancelled probe
    must not hold the breaker half-open for ever: the next caller's dip goes out."""
    ada = demo_caller("ada")
    breaker = runtime.connectors.client("dynamics").breaker
    breaker.hold_open(0.1)
    await asyncio.sleep(0.15)  # half-open: the next request is the probe
    emulator.set_faults(hang_rate=1.0, hang_s=2.0)
    first, session, steps = start(runtime, ada.ani, [])
    await wait_until(lambda: any(isinstance(c, HttpRequest) for s in steps for c in s.commands))
    await asyncio.sleep(0.3)  # the probe is waiting for the CRM's answer
    first.hang_up()
    await asyncio.wait_for(session.done.wait(), 10)

    emulator.clear_faults()
    second, session, _ = start(runtime, ada.ani, ["2"], hang_up_in_queue_after_s=0.05)
    await asyncio.wait_for(session.done.wait(), 10)
    assert "Ada" in said(second), said(second)
