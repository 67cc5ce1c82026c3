"""Failure paths of a call's life through the real runtime and the sim channel: a caller
who leaves while a data dip is in flight must not break the dips of the callers after."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from typing import Any

import pytest

from dipflow.center import AgentState, ContactOffered
from dipflow.center.config import QueueConfig
from dipflow.center.model import IDLE_REASON_RONA
from dipflow.channels.seam import AgentEndpoint
from dipflow.channels.sim import SimCaller, Speaker
from dipflow.emulator.demo_data import demo_caller
from dipflow.emulator.testing import RunningEmulator
from dipflow.engine.commands import HttpRequest, MediaCommand, Play, PlayMusic
from dipflow.runtime.demo import demo_config, demo_environ
from dipflow.runtime.runtime import Runtime
from dipflow.runtime.session import StepRecord
from dipflow.runtime.simcall import make_agents_available
from tests.runtime.sim_calls import DNIS, said, start, wait_until


@pytest.mark.slow
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


class RingingAgentLeg(SimCaller):
    """An agent leg that rings until the caller hangs up, then fails (as SIP's does)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.ringing = asyncio.Event()

    async def connect_agent(self, agent: AgentEndpoint) -> bool:
        self.ringing.set()
        await self.ended.wait()
        return False


async def agent_state(runtime: Runtime, agent_id: str) -> tuple[AgentState, str | None]:
    snapshot = await runtime.center.snapshot()
    agent = next(a for a in snapshot.agents if a.agent_id == agent_id)
    return agent.state, agent.reason


async def test_caller_hanging_up_while_the_agent_rings_is_not_the_agents_no_answer(
    runtime: Runtime,
) -> None:
    """The agent accepted; their phone rings; the caller hangs up. The agent did nothing
    wrong: they wrap up and become available again, not idle for "ring no answer"."""
    offers: list[ContactOffered] = []
    runtime.center.subscribe(lambda n: offers.append(n) if isinstance(n, ContactOffered) else None)
    await make_agents_available(runtime, ["agent1"])
    caller = RingingAgentLeg(presses=["1"])
    session = runtime.start_call(caller, ani=demo_caller("ada").ani, dnis=DNIS, channel="sim")
    caller.attach(session)
    await wait_until(lambda: offers)
    accepting = asyncio.ensure_future(runtime.agent_accept("agent1", session.call_id))
    await asyncio.wait_for(caller.ringing.wait(), 5)
    caller.hang_up()
    assert not await asyncio.wait_for(accepting, 5)
    await asyncio.wait_for(session.done.wait(), 10)
    async with asyncio.timeout(5):
        while (state := await agent_state(runtime, "agent1"))[0] is not AgentState.AVAILABLE:
            assert state != (AgentState.IDLE, IDLE_REASON_RONA), state
            await asyncio.sleep(0.01)
    snapshot = await runtime.center.snapshot()
    assert all(not q.waiting for q in snapshot.queues)


async def test_agent_whose_leg_fails_goes_idle_rona_and_the_caller_waits_on(
    runtime: Runtime,
) -> None:
    """Ring-no-answer on the agent's leg (docs/runtime.md): the agent is made idle "rona",
    with the center's default idle codes too, so they are not offered the caller again."""
    offers: list[ContactOffered] = []
    runtime.center.subscribe(lambda n: offers.append(n) if isinstance(n, ContactOffered) else None)
    await make_agents_available(runtime, ["agent1"])
    caller = SimCaller(presses=["1"], failing_agent_legs=1)
    session = runtime.start_call(caller, ani=demo_caller("ada").ani, dnis=DNIS, channel="sim")
    caller.attach(session)
    await wait_until(lambda: offers)
    assert not await runtime.agent_accept("agent1", session.call_id)
    assert await agent_state(runtime, "agent1") == (AgentState.IDLE, IDLE_REASON_RONA)
    snapshot = await runtime.center.snapshot()
    assert [len(q.waiting) for q in snapshot.queues if q.name == "CustomerCare"] == [1]
    assert not caller.ended.is_set()
    caller.hang_up()
    await asyncio.wait_for(session.done.wait(), 10)


async def test_caller_out_of_the_centers_fallback_queue_too_takes_the_flows_error_path(
    emulator: RunningEmulator,
) -> None:
    """CustomerCare overflows to Overflow (the center's fallback), whose maximum wait ends
    too: the contact has left the center. The flow must hear of it (its NoAgent message
    and hang-up), not hold the caller on music for ever, in no queue."""
    base = demo_config(emulator=emulator, tts="silent", web_port=0)
    queues = [
        QueueConfig(
            name="CustomerCare", teams=["support"], max_wait_s=0.2, fallback_queue="Overflow"
        ),
        QueueConfig(name="Overflow", teams=["support"], max_wait_s=0.2),
    ]
    config = base.model_copy(update={"center": base.center.model_copy(update={"queues": queues})})
    runtime = await Runtime.create(config, environ=demo_environ(emulator))
    await runtime.start()
    try:
        caller, session, _ = start(runtime, demo_caller("ada").ani, ["1"])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.done.wait(), 5)
        assert "no agent can take your call" in said(caller), said(caller)
        assert any(line.kind == "disconnect" for line in caller.transcript)
    finally:
        await runtime.stop()


class DeadSpeaker(SimCaller):
    """A line on which nothing plays: every prompt and the hold music fail (TTS down and
    the music file missing), after a real trip through the loop as a renderer's thread."""

    async def execute(self, command: MediaCommand) -> None:
        if isinstance(command, Play | PlayMusic):
            await asyncio.sleep(0)
            raise RuntimeError("no audio")
        await super().execute(command)


async def test_caller_who_can_hear_nothing_is_hung_up_not_spun_in_silence(
    runtime: Runtime,
) -> None:
    """The flow wires every media error onwards (music error -> announcement, whose error
    -> music...): with nothing playable the call would loop in silence for ever, burning
    the CPU. It ends instead, leaving nothing behind in the center."""
    caller = DeadSpeaker(presses=["1"])
    session = runtime.start_call(caller, ani=demo_caller("ada").ani, dnis=DNIS, channel="sim")
    caller.attach(session)
    steps: list[StepRecord] = []
    session.observe(steps.append)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(session.done.wait(), 5)
    assert session.done.is_set(), f"still running after {len(steps)} steps"
    assert any(line.kind == "disconnect" for line in caller.transcript)
    snapshot = await runtime.center.snapshot()
    assert all(not q.waiting for q in snapshot.queues)
    assert runtime.active_call_count() == 0


async def test_a_finished_call_is_not_kept_alive_by_its_hang_up_guard(runtime: Runtime) -> None:
    """The guard against a call that never finishes after the hang-up is disarmed when it
    finishes: the loop must not hold every hung-up call (state, trace) for minutes."""
    caller, session, _ = start(runtime, demo_caller("ada").ani, [])
    await caller.wait_for(lambda line: line.speaker is Speaker.IVR)
    caller.hang_up()
    await asyncio.wait_for(session.done.wait(), 10)
    await asyncio.sleep(0.05)
    finished = weakref.ref(session)
    del session, caller  # the sim caller holds its handle
    gc.collect()
    assert finished() is None, [type(r).__name__ for r in gc.get_referrers(finished())]
