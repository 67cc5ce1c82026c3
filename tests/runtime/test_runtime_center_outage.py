"""A Redis outage in the middle of a call: the runtime catches `CenterError` (not every
exception), logs the outage at warning level without a traceback, refuses the agent's
accept instead of failing, and still ends the call and stops. A real redis-server is
started, then killed."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from dipflow.center import ContactOffered, Notification
from dipflow.channels.sim import SimCaller
from dipflow.emulator.demo_data import demo_caller
from dipflow.emulator.testing import RunningEmulator, free_port
from dipflow.runtime.config import RedisStoreSettings
from dipflow.runtime.demo import demo_config, demo_environ
from dipflow.runtime.runtime import Runtime
from dipflow.runtime.simcall import make_agents_available

REDIS_SERVER = Path("/usr/bin/redis-server")


@pytest.fixture
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    if not REDIS_SERVER.exists():
        pytest.fail(f"{REDIS_SERVER} is missing: install the Debian package redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [str(REDIS_SERVER), "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/tmp",
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on port {port}")
                time.sleep(0.05)
        yield url, proc
    finally:
        client.close()
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=10)


async def test_redis_outage_refuses_the_accept_logs_a_warning_and_ends_the_call(
    emulator: RunningEmulator,
    redis_server: tuple[str, subprocess.Popen[bytes]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, proc = redis_server
    config = demo_config(emulator=emulator, tts="silent", web_port=0).model_copy(
        update={"store": RedisStoreSettings(url=url, prefix=f"outage{free_port()}:")}
    )
    runtime = await Runtime.create(config, environ=demo_environ(emulator))
    await runtime.start()
    try:
        offers: list[ContactOffered] = []

        def on_center(note: Notification) -> None:
            if isinstance(note, ContactOffered):
                offers.append(note)

        runtime.center.subscribe(on_center)
        await make_agents_available(runtime, ["agent1"])
        caller = SimCaller(presses=["1"])
        session = runtime.start_call(
            caller, ani=demo_caller("ada").ani, dnis="+18005550100", channel="sim"
        )
        caller.attach(session)
        async with asyncio.timeout(15):
            while not offers:  # noqa: ASYNC110 - the offer arrives through a callback
                await asyncio.sleep(0.01)

        proc.kill()
        proc.wait(timeout=10)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="dipflow"):
            assert not await runtime.agent_accept("agent1", session.call_id)
            caller.hang_up()
            await asyncio.wait_for(session.done.wait(), 10)

        center_lines = [r for r in caplog.records if r.name == "dipflow.runtime.center"]
        assert any(
            r.levelno == logging.WARNING and "CenterStoreError" in r.getMessage()
            for r in center_lines
        ), [r.getMessage() for r in center_lines]
        # An outage is not a bug: the runtime logs no traceback and nothing at error level.
        runtime_lines = [r for r in caplog.records if r.name.startswith("dipflow.runtime")]
        assert [r for r in runtime_lines if r.levelno >= logging.ERROR or r.exc_info] == []
        # The call ended all the same: its session is gone and its summary says so.
        assert runtime.session(session.call_id) is None
        (summary,) = [c for c in runtime.recent_calls() if c.call_id == session.call_id]
        assert summary.ended_at is not None and not summary.error
    finally:
        await runtime.stop()
