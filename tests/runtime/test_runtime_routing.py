"""Routing through the real runtime and contact center (sim caller, real engine, real
center): skill requirements decide which agent is offered the caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dipflow.center import ContactOffered, Notification
from dipflow.channels.sim import SimCaller
from dipflow.emulator.testing import RunningEmulator
from dipflow.runtime.config import DipflowConfig
from dipflow.runtime.demo import demo_config, demo_environ
from dipflow.runtime.runtime import Runtime
from dipflow.runtime.session import CallSession
from dipflow.runtime.simcall import make_agents_available

DNIS = "+18005550100"
SKILLS: dict[str, Any] = {
    "skills": [
        {"name": "language", "type": "enum", "values": ["en", "es"]},
        {"name": "tech", "type": "proficiency"},
    ],
    "skill_profiles": {"spanish": {"language": "es", "tech": 6}},
}
AGENT_SKILLS = {
    "agent1": {"skills": {"language": "en", "tech": 9}},
    "agent2": {"skill_profile": "spanish"},
}


async def wait_until(predicate: Callable[[], Any], within_s: float = 10.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():  # noqa: ASYNC110 - polls state that callbacks set
            await asyncio.sleep(0.01)


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
    data["center"].update(center or {})
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
