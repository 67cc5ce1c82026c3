"""Whole calls through the runtime: sim caller, real engine and flow, the emulator over HTTP,
the real contact center, agents accepting through `runtime.agent_accept`."""

from __future__ import annotations

import asyncio
from typing import Any

from dipflow.center import ContactOffered
from dipflow.channels.sim import Speaker
from dipflow.emulator.demo_data import demo_caller
from dipflow.emulator.testing import RunningEmulator
from dipflow.engine.commands import HttpRequest
from dipflow.engine.events import HttpCompleted
from dipflow.runtime.notices import CallPhase, CallUpdated, ScreenPopReady
from dipflow.runtime.runtime import Runtime
from dipflow.runtime.session import StepRecord
from dipflow.runtime.simcall import make_agents_available
from tests.runtime.sim_calls import said, start, wait_until


class Recorder:
    """Everything the runtime and the center announce during a test."""

    def __init__(self, runtime: Runtime) -> None:
        self.pops: list[ScreenPopReady] = []
        self.updates: list[CallUpdated] = []
        self.offers: list[ContactOffered] = []
        self.center_notes: list[Any] = []
        runtime.subscribe(self._on_runtime)
        runtime.center.subscribe(self._on_center)

    def _on_runtime(self, notice: Any) -> None:
        if isinstance(notice, ScreenPopReady):
            self.pops.append(notice)
        elif isinstance(notice, CallUpdated):
            self.updates.append(notice)

    def _on_center(self, note: Any) -> None:
        self.center_notes.append(note)
        if isinstance(note, ContactOffered):
            self.offers.append(note)


def http_statuses(steps: list[StepRecord]) -> list[int | None]:
    from dipflow.engine.events import HttpCompleted

    return [s.event.status for s in steps if isinstance(s.event, HttpCompleted)]


async def test_known_caller_greeted_queued_answered_and_popped_for_that_agent(
    runtime: Runtime,
) -> None:
    ada = demo_caller("ada")
    recorder = Recorder(runtime)
    await make_agents_available(runtime, ["agent1", "agent2"])
    caller, session, steps = start(runtime, ada.ani, ["1"])

    await caller.wait_for(lambda line: "Ada" in line.text)
    await wait_until(lambda: recorder.offers)
    offer = recorder.offers[0]
    assert offer.call_id == session.call_id
    assert session.facts.phase in (CallPhase.QUEUED, CallPhase.OFFERED)
    other = "agent1" if offer.agent_id == "agent2" else "agent2"
    assert not await runtime.agent_accept(other, session.call_id)  # not their offer

    assert await runtime.agent_accept(offer.agent_id, session.call_id)
    await wait_until(lambda: recorder.pops)
    await asyncio.sleep(0.05)
    (pop,) = recorder.pops
    assert pop.agent_id == offer.agent_id
    assert pop.call_id == session.call_id
    assert ada.latest_case_id is not None
    assert ada.latest_case_id in pop.url
    assert caller.agent is not None and caller.agent.agent_id == offer.agent_id

    greeting = said(caller)
    assert "Ada" in greeting
    assert all(status == 200 for status in http_statuses(steps))
    data = runtime.call_data(session.call_id)
    assert data is not None and data.ani == ada.ani

    await runtime.agent_hangup(offer.agent_id, session.call_id)
    await asyncio.wait_for(session.done.wait(), 10)
    summary = runtime.recent_calls(1)[0]
    assert summary.call_id == session.call_id
    assert summary.state is CallPhase.ENDED
    assert summary.agent_id == offer.agent_id
    assert not summary.error
    assert any(u.summary.state is CallPhase.CONNECTED for u in recorder.updates)
    assert runtime.session(session.call_id) is None


async def test_unknown_caller_gets_new_case_form(runtime: Runtime) -> None:
    unknown = demo_caller("unknown")
    recorder = Recorder(runtime)
    await make_agents_available(runtime, ["agent3"])
    caller, session, _ = start(runtime, unknown.ani, ["1"])
    await wait_until(lambda: recorder.offers)
    assert await runtime.agent_accept("agent3", session.call_id)
    await wait_until(lambda: recorder.pops)
    (pop,) = recorder.pops
    assert pop.agent_id == "agent3"
    assert "incident" in pop.url
    assert "&id=" not in pop.url and "?id=" not in pop.url  # a form for a new case
    await runtime.agent_hangup("agent3", session.call_id)
    await asyncio.wait_for(session.done.wait(), 10)
    assert caller.ended.is_set()


async def test_crm_outage_gives_generic_greeting_and_still_queues(
    emulator: RunningEmulator, runtime: Runtime
) -> None:
    ada = demo_caller("ada")
    emulator.set_faults(error_rate=1.0, error_status=503)
    recorder = Recorder(runtime)
    caller, session, steps = start(runtime, ada.ani, ["1"])
    await wait_until(
        lambda: any(type(n).__name__ == "ContactQueued" for n in recorder.center_notes)
    )
    assert "Ada" not in said(caller)
    assert said(caller)  # the caller heard a greeting, not silence
    assert any(status != 200 for status in http_statuses(steps))
    caller.hang_up()
    await asyncio.wait_for(session.done.wait(), 10)


async def test_caller_hangs_up_while_queued(runtime: Runtime) -> None:
    ada = demo_caller("ada")
    recorder = Recorder(runtime)
    _, session, _ = start(runtime, ada.ani, ["1"], hang_up_in_queue_after_s=0.05)
    await asyncio.wait_for(session.done.wait(), 10)
    left = [n for n in recorder.center_notes if type(n).__name__ == "ContactLeftQueue"]
    assert [n.reason for n in left] == ["abandoned"]
    snapshot = await runtime.center.snapshot()
    assert all(not q.waiting for q in snapshot.queues)
    summary = runtime.recent_calls(1)[0]
    assert any(entry.get("flow") == "contact_ended" for entry in summary.trace)
    assert not summary.error


async def test_hostile_ani_is_data(runtime: Runtime) -> None:
    hostile = "'; DROP TABLE contacts; --<script>alert(1)</script>{{7*7}}"
    caller, session, _ = start(runtime, hostile, [], hang_up_in_queue_after_s=0.05)
    await caller.wait_for(lambda line: line.speaker is Speaker.IVR)
    caller.hang_up()
    await asyncio.wait_for(session.done.wait(), 10)
    assert "49" not in said(caller)
    assert runtime.session(session.call_id) is None


async def test_http_request_goes_to_emulator_over_http(
    emulator: RunningEmulator, runtime: Runtime
) -> None:
    emulator.reset_stats()
    caller, session, steps = start(runtime, demo_caller("ada").ani, [])
    await wait_until(lambda: any(isinstance(s.event, HttpCompleted) for s in steps))
    caller.hang_up()
    await asyncio.wait_for(session.done.wait(), 10)
    (request,) = [c for s in steps for c in s.commands if isinstance(c, HttpRequest)]
    (result,) = [s.event for s in steps if isinstance(s.event, HttpCompleted)]
    assert result.status == 200
    stats = emulator.stats()
    # The flow's one lookup reached the emulator's Web API over HTTP, and was answered.
    assert stats["per_path"].get(f"/api/data/v9.2/{request.path}") == 1, stats
    assert stats["per_status"].get("200", 0) >= 1, stats


async def test_failed_agent_leg_puts_the_caller_back_in_queue(runtime: Runtime) -> None:
    ada = demo_caller("ada")
    recorder = Recorder(runtime)
    await make_agents_available(runtime, ["agent1", "agent2"])
    caller, session, _ = start(runtime, ada.ani, ["1"], failing_agent_legs=1)
    await wait_until(lambda: recorder.offers)
    first = recorder.offers[0].agent_id
    assert not await runtime.agent_accept(first, session.call_id)  # their phone failed
    assert not recorder.pops
    await wait_until(lambda: len(recorder.offers) == 2)
    second = recorder.offers[1].agent_id
    assert second != first  # the first agent is idle (ring-no-answer), not offered again
    assert await runtime.agent_accept(second, session.call_id)
    await wait_until(lambda: recorder.pops)
    assert [pop.agent_id for pop in recorder.pops] == [second]
    assert not caller.ended.is_set()  # the caller never lost the call
    await runtime.agent_hangup(second, session.call_id)
    await asyncio.wait_for(session.done.wait(), 10)
    assert not runtime.recent_calls(1)[0].error
