"""Failures inside a call stay inside the call: channel errors take the flow's error path,
an engine failure hangs up cleanly, secrets stay masked, Redis keeps live call state."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dipflow.channels.sim import SimCaller, Speaker
from dipflow.emulator.demo_data import demo_caller
from dipflow.emulator.testing import RunningEmulator, free_port
from dipflow.engine import Engine
from dipflow.engine.commands import MediaCommand, Play
from dipflow.engine.events import CallStarted, PromptFailed
from dipflow.runtime.config import RedisStoreSettings, config_from_data
from dipflow.runtime.demo import demo_config, demo_environ
from dipflow.runtime.runtime import Runtime
from dipflow.runtime.session import StepRecord


class BrokenSpeaker(SimCaller):
    """A channel whose first prompt fails to play (a TTS crash, a missing file)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.failed = False

    async def execute(self, command: MediaCommand) -> None:
        if isinstance(command, Play) and not self.failed:
            self.failed = True
            raise RuntimeError("speaker on fire")
        await super().execute(command)


def errors_counted(runtime: Runtime, where: str) -> float:
    value = runtime.metrics.registry.get_sample_value(
        "dipflow_session_errors_total", {"where": where}
    )
    return value or 0.0


async def test_failing_prompt_takes_the_flows_error_path(runtime: Runtime) -> None:
    caller = BrokenSpeaker(presses=["2"])
    session = runtime.start_call(caller, ani=demo_caller("ada").ani, dnis="1", channel="sim")
    caller.attach(session)
    steps: list[StepRecord] = []
    session.observe(steps.append)
    await asyncio.wait_for(session.done.wait(), 10)
    assert any(isinstance(s.event, PromptFailed) for s in steps)
    heard = [line.text for line in caller.transcript if line.speaker is Speaker.IVR]
    assert any("Ada" in text for text in heard)  # the call went on after the failure
    assert errors_counted(runtime, "Play") == 1
    assert not runtime.recent_calls(1)[0].error


async def test_engine_failure_ends_only_that_call(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_step = Engine.step

    def exploding(self: Engine, state: Any, event: Any, now: float) -> Any:
        raise ZeroDivisionError("engine bug")

    monkeypatch.setattr(Engine, "step", exploding)
    caller = SimCaller(presses=["1"])
    session = runtime.start_call(caller, ani=demo_caller("ada").ani, dnis="1", channel="sim")
    caller.attach(session)
    await asyncio.wait_for(session.done.wait(), 10)
    assert caller.ended.is_set()
    assert any(line.kind == "disconnect" for line in caller.transcript)  # not left in silence
    assert errors_counted(runtime, "session") == 1
    assert runtime.active_call_count() == 0

    monkeypatch.setattr(Engine, "step", real_step)
    healthy = SimCaller(presses=["2"])
    second = runtime.start_call(healthy, ani=demo_caller("ada").ani, dnis="1", channel="sim")
    healthy.attach(second)
    await asyncio.wait_for(second.done.wait(), 10)
    assert any("Goodbye" in line.text for line in healthy.transcript)


async def runtime_for_flow(tmp_path: Path, name: str, text: str) -> Runtime:
    """A started runtime serving the flow `text` (written to `name`) on every number."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    config = config_from_data(
        {
            "flows": [{"dnis": "*", "flow": name}],
            "center": {"queues": [{"name": "Q", "teams": ["t"]}]},
            "media": {"tts": "silent"},
        },
        base_dir=tmp_path,
    )
    runtime = await Runtime.create(config, environ={})
    await runtime.start()
    return runtime


SECRET_FLOW = """\
name: secret
variables:
  - {name: Pin, secure: true}
  - {name: Copy, agent_visible: true}
start: start
activities:
  start: {kind: start, next: pin}
  pin: {kind: set_variable, variable: Pin, value: "8675309", next: copy}
  copy: {kind: set_variable, variable: Copy, value: "pin {{ Pin }}", next: say}
  say:
    kind: play_message
    prompt: {text: "Thank you."}
    next: bye
  bye: {kind: disconnect_contact}
"""


async def test_secure_values_never_reach_the_trace(tmp_path: Path) -> None:
    runtime = await runtime_for_flow(tmp_path, "secret.yaml", SECRET_FLOW)
    try:
        caller = SimCaller()
        session = runtime.start_call(caller, ani="+1", dnis="1", channel="sim")
        caller.attach(session)
        await asyncio.wait_for(session.done.wait(), 10)
        summary = runtime.recent_calls(1)[0]
        dumped = json.dumps(summary.to_dict(), default=str)
        assert "8675309" not in dumped
        assert any(entry["activity"] == "copy" for entry in summary.trace)
    finally:
        await runtime.stop()


async def test_unserved_number_is_refused(emulator: RunningEmulator) -> None:
    config = demo_config(emulator=emulator, tts="silent")
    bound = config.model_copy(
        update={"flows": [config.flows[0].model_copy(update={"dnis": ["+18005550100"]})]}
    )
    runtime = await Runtime.create(bound, environ=demo_environ(emulator))
    try:
        with pytest.raises(LookupError):
            runtime.start_call(SimCaller(), ani="+1", dnis="+18005550199", channel="sim")
        assert runtime.active_call_count() == 0
    finally:
        await runtime.stop()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is required (apt-get install redis-server)"
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow
async def test_live_call_state_is_kept_in_redis(emulator: RunningEmulator, redis_url: str) -> None:
    config = demo_config(emulator=emulator, tts="silent")
    config = config.model_copy(update={"store": RedisStoreSettings(url=redis_url)})
    runtime = await Runtime.create(config, environ=demo_environ(emulator))
    await runtime.start()
    try:
        caller = SimCaller(presses=["1"])
        session = runtime.start_call(caller, ani=demo_caller("ada").ani, dnis="1", channel="sim")
        caller.attach(session)
        await caller.wait_for(lambda line: line.kind == "music")
        await asyncio.sleep(0.05)
        stored = await runtime.store.load(session.call_id)
        assert stored is not None
        state = json.loads(stored)
        assert state["call_id"] == session.call_id
        assert state["variables"]["CustomerName"] == "Ada Lovelace"
        snapshot = await runtime.center.snapshot()
        (queue,) = snapshot.queues
        assert [w.call_id for w in queue.waiting] == [session.call_id]
        caller.hang_up()
        await asyncio.wait_for(session.done.wait(), 10)
        assert await runtime.store.load(session.call_id) is None
    finally:
        await runtime.stop()


def test_call_started_is_plain_data() -> None:
    # The runtime hands the engine the caller's number untouched: hostile text is data.
    event = CallStarted(call_id="c", ani="<script>", dnis="1", channel="sim")
    assert event.ani == "<script>"


async def test_log_lines_mask_secure_values_of_live_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    from dipflow.runtime.logs import configure_logging

    logger = logging.getLogger("dipflow")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    configure_logging(level="INFO", as_json=True)
    runtime = await runtime_for_flow(tmp_path, "secret.yaml", SECRET_FLOW)
    try:
        caller = SimCaller(speed=1.0)  # "Thank you." takes a moment: the call stays live
        session = runtime.start_call(caller, ani="+1", dnis="1", channel="sim")
        caller.attach(session)
        await caller.wait_for(lambda line: line.text == "Thank you.")
        logging.getLogger("dipflow.test").warning("careless debug: pin=%s", "8675309")
        await asyncio.wait_for(session.done.wait(), 10)
    finally:
        await runtime.stop()
        logger.handlers[:], logger.level, logger.propagate = saved
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    careless = [line for line in lines if "careless" in line["message"]]
    assert careless == [careless[0]]
    assert careless[0]["message"] == "careless debug: pin=****"
    assert careless[0]["level"] == "warning"


TIMED_FLOW = """\
name: timed
start: start
activities:
  start: {kind: start, next: music}
  music: {kind: play_music, duration_s: 0.3, next: after}
  after:
    kind: play_message
    prompt: {text: "Still there?"}
    next: bye
  bye: {kind: disconnect_contact}
"""


async def test_engine_timers_fire_on_the_loop_clock(tmp_path: Path) -> None:
    runtime = await runtime_for_flow(tmp_path, "timed.yaml", TIMED_FLOW)
    try:
        caller = SimCaller()
        session = runtime.start_call(caller, ani="+1", dnis="1", channel="sim")
        caller.attach(session)
        music = await caller.wait_for(lambda line: line.kind == "music")
        after = await caller.wait_for(lambda line: line.text == "Still there?", within_s=5)
        assert 0.25 <= after.at - music.at < 2.0
        await asyncio.wait_for(session.done.wait(), 5)
    finally:
        await runtime.stop()


async def test_stop_hangs_up_live_calls_and_empties_the_queue(emulator: RunningEmulator) -> None:
    runtime = await Runtime.create(
        demo_config(emulator=emulator, tts="silent"), environ=demo_environ(emulator)
    )
    await runtime.start()
    callers = []
    for _ in range(3):
        caller = SimCaller(presses=["1"])
        session = runtime.start_call(caller, ani=demo_caller("ada").ani, dnis="1", channel="sim")
        caller.attach(session)
        callers.append(caller)
    for caller in callers:
        await caller.wait_for(lambda line: line.kind == "music")
    waiting = (await runtime.center.snapshot()).queues[0].waiting
    assert len(waiting) == 3
    await runtime.stop()
    assert all(c.ended.is_set() for c in callers)
    assert all(any(line.kind == "disconnect" for line in c.transcript) for c in callers)
    assert runtime.active_call_count() == 0
    assert len(runtime.recent_calls()) == 3
    assert (await runtime.center.snapshot()).queues[0].waiting == ()  # abandoned, not left
