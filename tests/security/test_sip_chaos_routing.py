"""The chaos results that held must stay held (issue 11): every caller is greeted and
routed to an agent through CRM slowness, 429s, 500s, half JSON and hangs, and through a
Redis restart with callers waiting. A real runtime on a real redis-server and the CRM
emulator with its fault injection; callers are simulated (`dipflow call`'s caller) and
agents answer through `runtime.agent_accept`, as the desktop does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dipflow.emulator.testing import RunningEmulator, running_emulator
from dipflow.runtime.config import RedisStoreSettings
from dipflow.runtime.demo import demo_config, demo_environ
from dipflow.runtime.notices import CallPhase
from dipflow.runtime.runtime import Runtime
from dipflow.runtime.simcall import AutoAnswer, SimCallResult, make_agents_available, run_sim_call
from tests.security.redis_proc import RedisProcess

pytestmark = pytest.mark.slow

ADA = "+14155550123"  # a contact with a case: menu, then "1" for an agent
NOBODY = "+14155550999"  # unknown: straight to the queue after the lookups

FAULTS: dict[str, dict[str, Any]] = {
    "slow": {"latency_ms": 2900},
    "throttled": {"throttle_rate": 1.0, "retry_after_s": 1},
    "failing": {"error_rate": 1.0, "error_status": 500},
    "half json": {"malformed_rate": 1.0},
    "hanging": {"hang_rate": 1.0, "hang_s": 30},
}


@pytest.fixture
async def crm() -> AsyncIterator[RunningEmulator]:
    with running_emulator(seed="demo", require_auth=True) as emulator:
        yield emulator


@pytest.fixture
async def redis_process() -> AsyncIterator[RedisProcess]:
    server = RedisProcess()
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def _runtime(crm: RunningEmulator, redis_url: str) -> Runtime:
    config = demo_config(emulator=crm, tts="silent", web_port=0).model_copy(
        update={
            "store": RedisStoreSettings(
                url=redis_url, prefix="chaos:", check_interval_s=0.3, outage_wait_s=60
            )
        }
    )
    runtime = await Runtime.create(config, environ=demo_environ(crm))
    await runtime.start()
    return runtime


async def _calls(runtime: Runtime, anis: list[str]) -> list[SimCallResult]:
    return list(
        await asyncio.gather(
            *(
                run_sim_call(
                    runtime,
                    ani=ani,
                    dnis="+18005550100",
                    presses=["1"],
                    hang_up_in_queue_after_s=None,
                    call_timeout_s=90,
                )
                for ani in anis
            )
        )
    )


def _greeted_and_routed(results: list[SimCallResult], what: str) -> None:
    for result in results:
        path = result.summary.path
        assert not result.timed_out, (what, path)
        assert "Greeting" in path, (what, path)  # the welcome was played
        assert result.summary.agent_id is not None, (what, path)  # an agent took the call
        assert result.screen_pops, (what, path)  # and got the screen pop


async def test_every_caller_is_greeted_and_routed_through_crm_faults_and_a_redis_restart(
    crm: RunningEmulator, redis_process: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = await _runtime(crm, redis_process.url)
    agents = AutoAnswer(runtime, after_s=0.2, talk_s=0.2)
    agents.start()
    try:
        await make_agents_available(runtime, ["agent1", "agent2"])
        async with httpx.AsyncClient() as client:
            for what, fault in FAULTS.items():
                response = await client.post(f"{crm.base_url}/_emulator/faults", json=fault)
                response.raise_for_status()
                _greeted_and_routed(await _calls(runtime, [ADA, NOBODY]), what)
            await client.delete(f"{crm.base_url}/_emulator/faults")

        # Redis restarts empty while callers wait: one agent, slow to answer, so that a
        # queue forms; then Redis goes and comes back with nothing in it.
        await runtime.center.logout("agent2")
        slow_agent = AutoAnswer(runtime, after_s=1.5, talk_s=0.2)
        agents.stop()
        slow_agent.start()
        try:
            calls = asyncio.create_task(_calls(runtime, [NOBODY] * 4))
            async with asyncio.timeout(30):
                while sum(c.state is CallPhase.QUEUED for c in runtime.active_calls()) < 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            redis_process.kill()
            await asyncio.sleep(1.0)
            redis_process.start()
            _greeted_and_routed(await calls, "redis restart")
            assert any("lost its state: re-asserting" in r.getMessage() for r in caplog.records)
        finally:
            slow_agent.stop()
    finally:
        agents.stop()
        await runtime.stop()
