"""Virtual agents through the real runtime: a sim caller pressing keys, the webhook bot
over real HTTP, the offline rules bot, and a flow whose bot is not configured."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from dipflow.channels.sim import SimCaller, Speaker
from dipflow.emulator.testing import RunningEmulator
from dipflow.runtime.config import DipflowConfig
from dipflow.runtime.demo import demo_config, demo_environ
from dipflow.runtime.runtime import Runtime
from dipflow.runtime.session import CallSession
from tests.connectors.bot_server import running_bot

DNIS = "+18005550100"
RULES = """
greeting: "Press 1 for opening hours, 0 for a person."
input: {max_digits: 1, timeout_s: 1}
intents:
  - {name: hours, digits: ["1"], say: "We are open from nine to five.", end: handled}
  - {name: agent, digits: ["0"], say: "One moment.", end: escalated}
no_input: {say: "Goodbye.", retries: 0, end: handled}
"""


def bot_flow(tmp_path: Path, connector: str | None) -> Path:
    flow = {
        "name": "bot",
        "start": "Start",
        "variables": [{"name": "Name", "default": "Ada"}],
        "activities": {
            "Start": {"kind": "start", "next": "Bot"},
            "Bot": {
                "kind": "virtual_agent",
                "connector": connector,
                "parameters": {"customer": "{{ Name }}"},
                "on": {"handled": "Done", "escalated": "Queue", "error": "Sorry"},
            },
            "Done": {"kind": "play_message",
                     "prompt": {"text": "Done: {{ Bot.MetaData.intent }}"}, "next": "Bye"},
            "Sorry": {"kind": "play_message", "prompt": {"text": "The assistant is away."},
                      "next": "Queue"},
            "Queue": {"kind": "queue_contact", "queue": "CustomerCare", "next": "Music"},
            "Music": {"kind": "play_music"},
            "Bye": {"kind": "disconnect_contact"},
        },
    }  # fmt: skip
    path = tmp_path / "bot.yaml"
    path.write_text(yaml.safe_dump(flow, sort_keys=False))
    return path


async def bot_runtime(emulator: RunningEmulator, flow: Path, bots: list[dict[str, Any]]) -> Runtime:
    base = demo_config(emulator=emulator, tts="silent", web_port=0, flow=str(flow))
    data = base.model_dump(mode="json")
    data["virtual_agents"] = bots
    config = DipflowConfig.model_validate({**data, "base_dir": flow.parent})
    runtime = await Runtime.create(config, environ=demo_environ(emulator))
    await runtime.start()
    return runtime


def call(runtime: Runtime, presses: list[str]) -> tuple[SimCaller, CallSession]:
    caller = SimCaller(presses=presses)
    session = runtime.start_call(caller, ani="+14155550123", dnis=DNIS, channel="sim")
    caller.attach(session)
    return caller, session


def heard(caller: SimCaller) -> list[str]:
    return [line.text for line in caller.transcript if line.speaker is Speaker.IVR]


def bot_entry(session: CallSession) -> Any:
    assert session.state is not None
    return next(e for e in session.state.trace if e.activity == "Bot")


async def test_the_webhook_bot_serves_the_caller_and_the_flow_goes_on(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    with running_bot() as server:
        runtime = await bot_runtime(
            emulator,
            bot_flow(tmp_path, "helpdesk"),
            [{"name": "helpdesk", "kind": "webhook", "url": server.url, "timeout_s": 3}],
        )
        try:
            caller, session = call(runtime, ["5", "1"])  # a wrong key first, then 1
            await asyncio.wait_for(session.done.wait(), 15)
        finally:
            await runtime.stop()
    assert heard(caller) == [
        "Hello Ada. Press 1 for your order, 0 for an agent.",
        "Sorry, press 1 or 0.",
        "Your order ships today. Goodbye.",
        "Done: order_status",
    ]
    entry = bot_entry(session)
    assert entry.output_taken == "handled"
    assert [r["event"] for r in server.requests] == ["start", "input", "input"]
    assert [r["input"] for r in server.requests] == ["", "5", "1"]
    assert server.requests[0]["call_id"] == session.call_id
    assert session.state is not None
    metadata = session.state.outputs["Bot"]["MetaData"]
    assert metadata == {"intent": "order_status", "order": "A-17"}
    assert "caller: 5" in session.state.outputs["Bot"]["Transcript"]


async def test_the_rules_bot_escalates_to_the_queue(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    runtime = await bot_runtime(
        emulator,
        bot_flow(tmp_path, "offline"),
        [{"name": "offline", "kind": "rules", "rules": "rules.yaml"}],
    )
    try:
        caller, session = call(runtime, ["0"])
        await caller.wait_for(lambda line: line.text == "One moment.")
        await asyncio.sleep(0.2)
        assert session.facts.queue == "CustomerCare"
        assert bot_entry(session).output_taken == "escalated"
        caller.hang_up()
        await asyncio.wait_for(session.done.wait(), 10)
    finally:
        await runtime.stop()


async def test_a_bot_that_fails_takes_the_error_output_with_the_reason(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    with running_bot("error") as server:
        runtime = await bot_runtime(
            emulator,
            bot_flow(tmp_path, "helpdesk"),
            [{"name": "helpdesk", "kind": "webhook", "url": server.url}],
        )
        try:
            caller, session = call(runtime, [])
            await caller.wait_for(lambda line: "away" in line.text)
            entry = bot_entry(session)
            assert entry.output_taken == "error" and "answered 500" in entry.error
            caller.hang_up()
            await asyncio.wait_for(session.done.wait(), 10)
        finally:
            await runtime.stop()


async def test_a_bot_the_deployment_does_not_have_takes_the_error_output_at_once(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    runtime = await bot_runtime(emulator, bot_flow(tmp_path, "nobody"), [])
    try:
        caller, session = call(runtime, [])
        await caller.wait_for(lambda line: "away" in line.text)
        entry = bot_entry(session)
        assert entry.output_taken == "error"
        assert "no virtual agent named 'nobody' is configured" in entry.error
        caller.hang_up()
        await asyncio.wait_for(session.done.wait(), 10)
    finally:
        await runtime.stop()
