"""100rel (RFC 3262) and session timers (RFC 4028) against a real peer: sipp sends the
carrier's headers, checks ours (its ereg actions fail the call on a mismatch), PRACKs,
refreshes, or lets the session expire."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dipflow.engine.events import CallerHungUp
from tests.sip.sip_host import ScriptedHost, running_server
from tests.sip.sipp_runner import run_sipp, scenario

pytestmark = pytest.mark.slow


def _retrans_of(output: str, response: str) -> int:
    """The Retrans column of sipp's final screen for `response` received."""
    best = 0
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0] == response and fields[1].startswith("<"):
            numbers = [f for f in fields[2:] if f.isdigit()]
            if len(numbers) >= 2:
                best = max(best, int(numbers[1]))
    return best


async def test_reliable_180_is_retransmitted_until_the_prack(tmp_path: Path) -> None:
    host = ScriptedHost(menu=False)
    # Rings 3 s before answering, so that the 180 waits for its PRACK (sent after 2 s);
    # the caller's address is proven by its PRACK only, hence the amplification budget.
    async with running_server(host, answer_delay_s=3.0, amplification_factor=20) as server:
        result = await run_sipp(scenario("uac_100rel.xml", tmp_path), server.address,
                                timeout_s=20)  # fmt: skip
        assert result.returncode == 0, result.output[-3000:]
        await host.wait_calls(1, within_s=10)
    # T1 = 0.5 s: sent at 0, again at 0.5 and 1.5 s; the PRACK at 2 s stops it.
    assert _retrans_of(result.output, "180") == 2, result.output[-3000:]
    assert host.calls[0].events[-1] == CallerHungUp()


async def test_reliable_180_never_pracked_gets_504(tmp_path: Path) -> None:
    host = ScriptedHost(menu=False)
    async with running_server(
        host, answer_delay_s=30.0, t1_s=0.1, amplification_factor=50
    ) as server:
        started = time.monotonic()
        result = await run_sipp(scenario("uac_100rel_no_prack.xml", tmp_path), server.address,
                                timeout_s=25)  # fmt: skip
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.output[-3000:]
        await host.wait_calls(1, within_s=10)
    assert 6.0 < elapsed < 12.0  # 64 * T1 = 6.4 s
    assert _retrans_of(result.output, "180") >= 4
    assert host.calls[0].events[-1] == CallerHungUp()


async def test_session_expires_without_refresh_and_dipflow_hangs_up(tmp_path: Path) -> None:
    host = ScriptedHost(menu=False)
    async with running_server(host, session_min_se_s=2) as server:
        started = time.monotonic()
        result = await run_sipp(scenario("uac_session_timer_uac.xml", tmp_path),
                                server.address, timeout_s=20)  # fmt: skip
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.output[-3000:]
        await host.wait_calls(1, within_s=10)
    # Refreshed at 2 s, so the BYE comes 4 - 4/3 s after that: ~4.7 s, not ~2.7 s.
    assert 4.2 < elapsed < 7.0, elapsed
    assert host.calls[0].events[-1] == CallerHungUp()
    assert server.ua.counts["sessions_expired"] == 1


async def test_dipflow_refreshes_with_update_when_it_is_the_refresher(tmp_path: Path) -> None:
    host = ScriptedHost(menu=False)
    async with running_server(host, session_min_se_s=2) as server:
        result = await run_sipp(scenario("uac_session_timer_uas.xml", tmp_path),
                                server.address, timeout_s=20)  # fmt: skip
        assert result.returncode == 0, result.output[-3000:]
        await host.wait_calls(1, within_s=10)
    assert server.ua.counts["session_refreshes"] >= 2
    assert host.calls[0].events[-1] == CallerHungUp()


async def test_too_short_session_gets_422_and_the_retry_is_answered(tmp_path: Path) -> None:
    host = ScriptedHost(menu=False)
    async with running_server(host, session_min_se_s=2) as server:
        result = await run_sipp(scenario("uac_session_timer_422.xml", tmp_path),
                                server.address, timeout_s=20)  # fmt: skip
        assert result.returncode == 0, result.output[-3000:]
        await host.wait_calls(1, within_s=10)
    assert len(host.calls) == 1  # the 422 started no call; the retry did


async def test_dipflow_refreshes_with_reinvite_when_update_is_not_allowed(tmp_path: Path) -> None:
    host = ScriptedHost(menu=False)
    async with running_server(host, session_min_se_s=2) as server:
        result = await run_sipp(scenario("uac_session_timer_reinvite.xml", tmp_path),
                                server.address, timeout_s=20)  # fmt: skip
        assert result.returncode == 0, result.output[-3000:]  # each re-INVITE's 2xx ACKed
        await host.wait_calls(1, within_s=10)
    assert server.ua.counts["session_refreshes"] >= 2
    assert host.calls[0].events[-1] == CallerHungUp()
