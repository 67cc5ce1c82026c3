"""RTCP with a real peer (baresip, which sends RFC 3550 reports): we receive its reports,
it receives ours (its receiver reports echo our sender reports' timestamps, which gives
the round-trip time), and each call's loss, jitter and round-trip time reach the call's
trace (through `CallHandle.report_media`) and /metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.sip.baresip_peer import Baresip, tone_wav
from tests.sip.sip_host import ScriptedHost, running_server

pytestmark = pytest.mark.slow


async def test_baresip_and_dipflow_exchange_rtcp_reports(tmp_path: Path) -> None:
    host = ScriptedHost(menu=False)
    registry = CollectorRegistry()
    source = tone_wav(tmp_path / "caller.wav", 600)
    async with running_server(host, registry=registry, rtcp_interval_s=1.0) as server:
        account = "<sip:caller@127.0.0.1>;regint=0"
        async with Baresip(tmp_path / "caller", account=account, source_wav=source) as phone:
            await phone.command("dial", f"sip:1000@127.0.0.1:{server.address[1]}")
            await phone.wait_event("CALL_ESTABLISHED")
            async with asyncio.timeout(40):  # until baresip reported twice, once on our SR
                while (  # noqa: ASYNC110 - the reports arrive on the server's own schedule
                    not host.calls
                    or not host.calls[0].media
                    or host.calls[0].media[0].rtt_ms is None
                    or host.calls[0].media[0].rtcp_reports_received < 2
                ):
                    await asyncio.sleep(0.5)
            await phone.command("hangup")
            await phone.wait_event("CALL_CLOSED")
        await host.wait_calls(1, within_s=10)
    (call,) = host.calls
    (caller,) = call.media
    assert caller.leg == "caller"
    assert caller.rtcp_reports_received >= 2
    assert caller.packets_received > 200 and caller.packets_sent > 200  # ~20 ms packets
    assert caller.packets_lost == 0 and caller.loss_fraction == 0.0  # loopback
    assert 0 <= caller.jitter_ms < 20
    assert caller.peer_loss_fraction == 0.0 and caller.peer_jitter_ms is not None
    assert caller.rtt_ms is not None and 0 <= caller.rtt_ms < 50  # loopback round trip
    exposed = generate_latest(registry).decode()
    assert "dipflow_rtp_round_trip_seconds_count 1.0" in exposed
    assert 'dipflow_rtp_loss_ratio_count{measured_by="peer"} 1.0' in exposed
    assert 'dipflow_rtp_jitter_seconds_count{measured_by="dipflow"} 1.0' in exposed
