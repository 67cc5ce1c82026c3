"""Real peer: sipp calls the SIP channel, streams audio and presses RFC 4733 digits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dipflow.engine.events import CallerHungUp, DigitsCollected, PromptDone
from tests.sip.sip_host import ScriptedHost, running_server
from tests.sip.sipp_runner import PCAPS, run_sipp, scenario

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("digit", ["1", "2"])
async def test_sipp_caller_dtmf_picks_the_menu_branch(tmp_path: Path, digit: str) -> None:
    host = ScriptedHost()
    async with running_server(host) as server:
        name = "uac_dtmf.xml" if digit == "1" else "uac_dtmf_wait_bye.xml"
        xml = scenario(name, tmp_path,
                       DTMF_PCAP_FILE=str(PCAPS / f"dtmf_2833_{digit}.pcap"))  # fmt: skip
        result = await run_sipp(xml, server.address, timeout_s=30)
        await host.wait_calls(1, within_s=10)
    assert result.returncode == 0, result.output[-3000:]
    (call,) = host.calls
    assert call.ani == "+15551234567"
    assert call.dnis == "1000"
    assert call.branch == digit
    digits = [e for e in call.events if isinstance(e, DigitsCollected)]
    assert digits == [DigitsCollected(digits=digit)]  # once, despite the 3 end packets
    # The digit arrived 2 s into the 7 s greeting: barge-in stopped it.
    assert PromptDone(prompt_id="greeting", interrupted=True) in call.events
    if digit == "2":
        assert PromptDone(prompt_id="goodbye") in call.events
    else:
        assert call.events[-1] == CallerHungUp()


@pytest.mark.parametrize("media_mode", ["process", "thread"])
async def test_sipp_caller_dtmf_through_the_media_worker(tmp_path: Path, media_mode: str) -> None:
    """The same call with the RTP in the media worker: the greeting is paced there, the
    key comes back from it, and barge-in still stops the greeting."""
    host = ScriptedHost()
    async with running_server(host, media_mode=media_mode) as server:
        xml = scenario("uac_dtmf.xml", tmp_path, DTMF_PCAP_FILE=str(PCAPS / "dtmf_2833_1.pcap"))
        result = await run_sipp(xml, server.address, timeout_s=30)
        await host.wait_calls(1, within_s=10)
        await asyncio.sleep(0.6)  # the worker's next report
        stats = server.stats()
        assert server.media_pid is not None if media_mode == "process" else True
    assert result.returncode == 0, result.output[-3000:]
    (call,) = host.calls
    assert call.branch == "1"
    assert [e for e in call.events if isinstance(e, DigitsCollected)] == [
        DigitsCollected(digits="1")
    ]
    assert PromptDone(prompt_id="greeting", interrupted=True) in call.events
    assert call.events[-1] == CallerHungUp()
    assert stats["rtp_packets_timed"] > 50  # 2 s of greeting, paced by the worker


async def test_sipp_cancel_before_answer(tmp_path: Path) -> None:
    host = ScriptedHost()
    async with running_server(host, answer_delay_s=3.0) as server:
        result = await run_sipp(scenario("uac_cancel.xml", tmp_path), server.address, timeout_s=20)
        await host.wait_calls(1, within_s=10)
        assert server.calls == {}
    assert result.returncode == 0, result.output[-3000:]
    (call,) = host.calls
    assert call.events[-1] == CallerHungUp()
    assert call.branch is None


async def test_sipp_retransmitted_invite_is_one_call(tmp_path: Path) -> None:
    host = ScriptedHost()
    async with running_server(host) as server:
        xml = scenario("uac_invite_retransmit.xml", tmp_path)
        # -nr: sipp itself must not answer our retransmitted provisional by resending.
        result = await run_sipp(xml, server.address, timeout_s=20, extra=("-nr",))
        assert result.returncode == 0, result.output[-3000:]
        await host.wait_calls(1, within_s=10)
    assert result.returncode == 0, result.output[-3000:]
    assert len(host.calls) == 1
    assert host.calls[0].events[-1] == CallerHungUp()


async def test_sipp_lost_ack_gets_2xx_retransmits_then_bye(tmp_path: Path) -> None:
    host = ScriptedHost()
    # T1 = 100 ms so that 64*T1 is 6.4 s; a large amplification budget because this peer
    # never proves its address (it never ACKs), which is exactly what the default guards.
    async with running_server(host, t1_s=0.1, amplification_factor=50) as server:
        result = await run_sipp(scenario("uac_lost_ack.xml", tmp_path), server.address,
                                timeout_s=25)  # fmt: skip
        await host.wait_calls(1, within_s=10)
    assert result.returncode == 0, result.output[-3000:]
    retransmissions = _retrans_of(result.output, "200")
    assert retransmissions >= 4, result.output[-3000:]
    assert host.calls[0].events[-1] == CallerHungUp()


async def test_sipp_unknown_number_gets_404(tmp_path: Path) -> None:
    host = ScriptedHost()
    async with running_server(host) as server:
        result = await run_sipp(scenario("uac_not_found.xml", tmp_path), server.address,
                                service="9999", timeout_s=15)  # fmt: skip
    assert result.returncode == 0, result.output[-3000:]
    assert host.calls == []


def _retrans_of(output: str, response: str) -> int:
    """The Retrans column of sipp's final screen for the line of `response` received."""
    best = 0
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0] == response and fields[1].startswith("<"):
            numbers = [f for f in fields[2:] if f.isdigit()]
            if len(numbers) >= 2:
                best = max(best, int(numbers[1]))
    return best


async def test_sipp_over_tcp(tmp_path: Path) -> None:
    host = ScriptedHost()
    async with running_server(host) as server:
        xml = scenario("uac_dtmf.xml", tmp_path, DTMF_PCAP_FILE=str(PCAPS / "dtmf_2833_1.pcap"))
        result = await run_sipp(xml, server.address, timeout_s=30, transport="t1")
        await host.wait_calls(1, within_s=10)
    # sipp -t t1 speaks only TCP: signalling and our BYE answer went over the connection.
    assert result.returncode == 0, result.output[-3000:]
    (call,) = host.calls
    assert call.branch == "1"
    assert call.events[-1] == CallerHungUp()
