"""Routing through the real runtime and contact center (sim caller, real engine, real
center): skill requirements decide which agent is offered the caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dipflow.center import ContactOffered, Notification
from dipflow.channels.sim import SimCaller, SimOutbound
from dipflow.emulator.testing import RunningEmulator
from dipflow.runtime.config import DipflowConfig
from dipflow.runtime.demo import demo_config, demo_environ
from dipflow.runtime.runtime import Runtime
from dipflow.runtime.session import CallSession
from dipflow.runtime.simcall import make_agents_available
from tests.runtime.sim_calls import wait_until

DNIS = "+18005550100"
SKILLS: dict[str, Any] = {
    "skills": [
        {"name": "language", "type": "enum", "values": ["en", "es"]},
        {"name": "tech", "type": "proficiency"},
    ],
    "skill_profiles": {"spanish": {"language": "es", "tech": 6}},
}
AGENT_SKILLS: dict[str, dict[str, Any]] = {
    "agent1": {"skills": {"language": "en", "tech": 9}},
    "agent2": {"skill_profile": "spanish", "email": "ben@example.com"},
}


def flow_file(tmp_path: Path, queue: dict[str, Any]) -> Path:
    flow = {
        "name": "routing",
        "start": "Start",
        "variables": [{"name": "Lang", "default": "es"}],
        "activities": {
            "Start": {"kind": "start", "next": "Queue"},
            "Queue": {"kind": "queue_contact", "queue": "CustomerCare", "next": "Music", **queue},
            "Music": {"kind": "play_music"},
        },
    }
    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump(flow, sort_keys=False))
    return path


async def routing_runtime(
    emulator: RunningEmulator, flow: Path, center: dict[str, Any] | None = None
) -> Runtime:
    base = demo_config(emulator=emulator, tts="silent", web_port=0, flow=str(flow))
    data = base.model_dump(mode="json")
    data["center"].update(center if center is not None else SKILLS)
    for agent in data["center"]["agents"]:
        agent.update(AGENT_SKILLS.get(agent["agent_id"], {}))
    config = DipflowConfig.model_validate({**data, "base_dir": base.base_dir})
    runtime = await Runtime.create(config, environ=demo_environ(emulator))
    await runtime.start()
    return runtime


class Offers:
    def __init__(self, runtime: Runtime) -> None:
        self.offers: list[ContactOffered] = []
        runtime.center.subscribe(self)

    def __call__(self, note: Notification) -> None:
        if isinstance(note, ContactOffered):
            self.offers.append(note)


def call(runtime: Runtime) -> tuple[SimCaller, CallSession]:
    caller = SimCaller(presses=[])
    session = runtime.start_call(caller, ani="+14155550123", dnis=DNIS, channel="sim")
    caller.attach(session)
    return caller, session


@pytest.fixture
async def skills_runtime(emulator: RunningEmulator, tmp_path: Path) -> AsyncIterator[Runtime]:
    flow = flow_file(
        tmp_path,
        {
            "skills": [{"skill": "language", "condition": "IS", "value": "{{ Lang }}"}],
            "relaxation": [{"after_s": 0.5}],
        },
    )
    runtime = await routing_runtime(emulator, flow, SKILLS)
    try:
        yield runtime
    finally:
        await runtime.stop()


async def test_the_caller_goes_to_the_agent_with_the_skill_not_the_longest_available(
    skills_runtime: Runtime,
) -> None:
    offers = Offers(skills_runtime)
    await make_agents_available(skills_runtime, ["agent1", "agent2"])  # agent1 waited longest
    caller, session = call(skills_runtime)
    await wait_until(lambda: offers.offers)
    assert offers.offers[0].agent_id == "agent2"
    caller.hang_up()
    await asyncio.wait_for(session.done.wait(), 10)


async def test_relaxation_lets_another_agent_take_the_caller(skills_runtime: Runtime) -> None:
    offers = Offers(skills_runtime)
    await make_agents_available(skills_runtime, ["agent1"])
    caller, session = call(skills_runtime)
    await asyncio.sleep(0.3)
    assert offers.offers == []  # agent1 speaks English only: the caller waits
    await wait_until(lambda: offers.offers, within_s=5)  # after 0.5 s, anyone
    assert offers.offers[0].agent_id == "agent1"
    caller.hang_up()
    await asyncio.wait_for(session.done.wait(), 10)


async def test_a_requirement_the_center_does_not_know_routes_to_the_longest_available(
    emulator: RunningEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Webex: "If one of the skill requirements of a contact is invalid ... the call is
    routed to the longest available agent." The log says which requirement and why."""
    flow = flow_file(tmp_path, {"skills": [{"skill": "cooking", "value": "yes"}]})
    runtime = await routing_runtime(emulator, flow, SKILLS)
    try:
        offers = Offers(runtime)
        await make_agents_available(runtime, ["agent2", "agent1"])
        caller, session = call(runtime)
        await wait_until(lambda: offers.offers)
        assert offers.offers[0].agent_id == "agent2"
        assert "unknown skill 'cooking'" in caplog.text
        caller.hang_up()
        await asyncio.wait_for(session.done.wait(), 10)
    finally:
        await runtime.stop()


# -- queue statistics ------------------------------------------------------------------------


async def test_queue_lookup_reads_the_centers_numbers(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    flow = flow_file(tmp_path, {})
    data = yaml.safe_load(flow.read_text())
    data["activities"]["Queue"]["next"] = "Lookup"
    data["activities"]["Lookup"] = {
        "kind": "queue_lookup",
        "queue": "CustomerCare",
        "on": {"out": "Say", "insufficient_data": "Say", "error": "Music"},
    }
    data["activities"]["Say"] = {
        "kind": "play_message",
        "prompt": {
            "text": "position {{ Lookup.PIQ }} of {{ Lookup.CallsQueuedNow }}, "
            "{{ Lookup.LoggedOnAgentsAll }} agents, wait {{ Lookup.EWT }} ms"
        },
        "next": "Music",
    }
    flow.write_text(yaml.safe_dump(data, sort_keys=False))
    runtime = await routing_runtime(emulator, flow)
    try:
        await runtime.center.login("agent1")  # staffed, not available
        first, first_session = call(runtime)
        second, second_session = call(runtime)
        await second.wait_for(lambda line: "position" in line.text)
        said = [line.text for line in second.transcript if "position" in line.text]
        assert said == ["position 2 of 2, 1 agents, wait 240000 ms"]  # 2 x 120 s default AHT
        for caller, session in ((first, first_session), (second, second_session)):
            caller.hang_up()
            await asyncio.wait_for(session.done.wait(), 10)
    finally:
        await runtime.stop()


# -- queue to agent --------------------------------------------------------------------------


def to_agent_flow(tmp_path: Path, owner: str) -> Path:
    flow = {
        "name": "owner",
        "start": "Start",
        "variables": [{"name": "Owner", "default": owner}],
        "activities": {
            "Start": {"kind": "start", "next": "ToOwner"},
            "ToOwner": {
                "kind": "queue_to_agent",
                "agent": "{{ Owner }}",
                "lookup": "email",
                "reporting_queue": "CustomerCare",
                "recovery_queue": "CustomerCare",
                "on": {"out": "Music", "error": "Music"},
            },
            "Music": {"kind": "play_music"},
        },
    }
    path = tmp_path / "owner.yaml"
    path.write_text(yaml.safe_dump(flow, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("owner", "expected"),
    [
        ("Ben@Example.com", "agent2"),  # the owner, though agent1 has waited longer
        ("nobody@example.com", "agent1"),  # no such agent: the recovery queue, anyone
    ],
)
async def test_queue_to_agent_routes_to_the_named_agent_or_recovers(
    emulator: RunningEmulator, tmp_path: Path, owner: str, expected: str
) -> None:
    runtime = await routing_runtime(emulator, to_agent_flow(tmp_path, owner))
    try:
        offers = Offers(runtime)
        await make_agents_available(runtime, ["agent1", "agent2"])
        caller, session = call(runtime)
        await wait_until(lambda: offers.offers)
        assert offers.offers[0].agent_id == expected
        caller.hang_up()
        await asyncio.wait_for(session.done.wait(), 10)
    finally:
        await runtime.stop()


async def test_queue_to_agent_when_the_agent_is_logged_out_takes_the_recovery_queue(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    runtime = await routing_runtime(emulator, to_agent_flow(tmp_path, "ben@example.com"))
    try:
        offers = Offers(runtime)
        await make_agents_available(runtime, ["agent1"])  # agent2 (Ben) is logged out
        caller, session = call(runtime)
        await wait_until(lambda: offers.offers)
        assert offers.offers[0].agent_id == "agent1"
        caller.hang_up()
        await asyncio.wait_for(session.done.wait(), 10)
    finally:
        await runtime.stop()


# -- callbacks -------------------------------------------------------------------------------


def callback_flow(tmp_path: Path, number: str = "{{ NewPhoneContact.ANI }}") -> Path:
    flow = {
        "name": "callback",
        "start": "Start",
        "variables": [{"name": "Missed", "default": "no"}],
        "activities": {
            "Start": {"kind": "start", "next": "Queue"},
            "Queue": {"kind": "queue_contact", "queue": "CustomerCare", "next": "Offer"},
            "Offer": {
                "kind": "callback",
                "number": number,
                "on": {"out": "Bye", "error": "Music"},
            },
            "Bye": {"kind": "play_message", "prompt": {"text": "We will call you back."},
                    "next": "Hangup"},
            "Hangup": {"kind": "disconnect_contact"},
            "Music": {"kind": "play_music"},
        },
        "event_flows": {
            "ani_updated": {
                "start": "Noted",
                "activities": {
                    "Noted": {"kind": "set_variable", "variable": "Missed",
                              "value": "new number {{ NewPhoneContact.ANI }}", "next": "Fin"},
                    "Fin": {"kind": "end"},
                },
            },
            "callback_failed": {
                "start": "Note",
                "activities": {
                    "Note": {"kind": "set_variable", "variable": "Missed",
                             "value": "yes", "next": "End"},
                    "End": {"kind": "end"},
                },
            }
        },
    }  # fmt: skip
    path = tmp_path / "callback.yaml"
    path.write_text(yaml.safe_dump(flow, sort_keys=False))
    return path


def callback_failure(session: CallSession) -> str:
    """Why the callback failed, as the callback_failed event flow was started with."""
    assert session.state is not None
    assert session.state.variables["Missed"] == "yes"  # the event flow ran
    (entry,) = [e for e in session.state.trace if e.flow == "callback_failed" and e.kind == "event"]
    return str(entry.inputs["reason"])


async def test_a_callback_keeps_the_place_and_calls_back_when_an_agent_takes_it(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    runtime = await routing_runtime(emulator, callback_flow(tmp_path))
    outbound = SimOutbound()
    runtime.set_outbound(outbound)
    try:
        offers = Offers(runtime)
        caller, session = call(runtime)
        await caller.wait_for(lambda line: "call you back" in line.text)
        await wait_until(lambda: session.facts.disconnected)  # the caller's leg is gone
        status = await runtime.center.queue_status(session.call_id)
        assert status is not None and status.position == 1  # the place is kept
        await make_agents_available(runtime, ["agent1"])
        await wait_until(lambda: offers.offers)
        assert await runtime.agent_accept("agent1", session.call_id)
        (placed,) = outbound.placed
        assert (placed.call_id, placed.number) == (session.call_id, "+14155550123")
        (leg,) = outbound.legs
        assert leg.agent is not None and leg.agent.agent_id == "agent1"
        await wait_until(lambda: session.facts.agent_id == "agent1")
        leg.hang_up()  # the called-back caller ends the call
        await asyncio.wait_for(session.done.wait(), 10)
        assert caller.agent is None  # never on the first leg
    finally:
        await runtime.stop()


async def test_a_callback_nobody_answers_runs_callback_failed(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    runtime = await routing_runtime(emulator, callback_flow(tmp_path))
    runtime.set_outbound(SimOutbound(answers=False))
    try:
        offers = Offers(runtime)
        _caller, session = call(runtime)
        await wait_until(lambda: session.facts.disconnected)
        await make_agents_available(runtime, ["agent1"])
        await wait_until(lambda: offers.offers)
        assert not await runtime.agent_accept("agent1", session.call_id)
        await asyncio.wait_for(session.done.wait(), 10)
        assert "+14155550123 was not reached" in callback_failure(session)
        assert "busy" in callback_failure(session)
        snap = await runtime.center.snapshot()
        assert all(not q.waiting for q in snap.queues)
        agent1 = next(a for a in snap.agents if a.agent_id == "agent1")
        assert agent1.call_id is None  # not left holding a call nobody is on
    finally:
        await runtime.stop()


async def test_without_an_outbound_channel_a_callback_fails_at_once(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    runtime = await routing_runtime(emulator, callback_flow(tmp_path))
    try:
        _caller, session = call(runtime)
        await asyncio.wait_for(session.done.wait(), 10)
        assert "no outbound channel" in callback_failure(session)
    finally:
        await runtime.stop()


async def test_a_callback_to_another_number_updates_the_contacts_number(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """Webex ContactAniUpdated: the called-back number is the contact's number now."""
    runtime = await routing_runtime(emulator, callback_flow(tmp_path, "+14155559999"))
    outbound = SimOutbound()
    runtime.set_outbound(outbound)
    try:
        offers = Offers(runtime)
        _caller, session = call(runtime)
        await wait_until(lambda: session.facts.disconnected)
        await make_agents_available(runtime, ["agent1"])
        await wait_until(lambda: offers.offers)
        assert await runtime.agent_accept("agent1", session.call_id)
        assert session.state is not None
        await wait_until(
            lambda: (
                session.state is not None
                and session.state.variables["Missed"] == "new number +14155559999"
            )
        )
        outbound.legs[0].hang_up()
        await asyncio.wait_for(session.done.wait(), 10)
    finally:
        await runtime.stop()
