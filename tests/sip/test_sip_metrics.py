"""The SIP channel's /metrics series, driven by a real peer (sipp): calls, failures by
status, retransmissions; and by the sans-IO agent: registrations and dropped messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from dipflow.channels.sip.agent import SipUserAgent
from dipflow.channels.sip.metrics import SipMetrics
from dipflow.channels.sip.settings import SipSettings
from tests.sip.sip_host import ScriptedHost, running_server
from tests.sip.sipp_runner import run_sipp, scenario


def _value(registry: CollectorRegistry, series: str) -> float:
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not exposed:\n{generate_latest(registry).decode()}")


@pytest.mark.slow
async def test_sipp_calls_show_as_calls_failures_and_retransmissions(tmp_path: Path) -> None:
    host = ScriptedHost()
    registry = CollectorRegistry()
    async with running_server(host, t1_s=0.1, amplification_factor=50, registry=registry) as server:
        missing = await run_sipp(scenario("uac_not_found.xml", tmp_path), server.address,
                                 service="9999", timeout_s=15)  # fmt: skip
        lost_ack = await run_sipp(scenario("uac_lost_ack.xml", tmp_path), server.address,
                                  timeout_s=25)  # fmt: skip
        await host.wait_calls(1, within_s=10)
        assert missing.returncode == 0, missing.output[-2000:]
        assert lost_ack.returncode == 0, lost_ack.output[-2000:]
        assert _value(registry, 'dipflow_sip_calls_total{direction="inbound"}') == 2
        assert (
            _value(registry, 'dipflow_sip_call_failures_total{direction="inbound",status="404"}')
            == 1
        )
        # The 2xx resent until the ACK that never came (T1 = 100 ms: 6.4 s of them).
        assert _value(registry, 'dipflow_sip_retransmissions_total{message="response"}') >= 4
        assert _value(registry, 'dipflow_sip_retransmissions_total{message="request"}') == 0


def test_registrations_and_dropped_messages_are_counted() -> None:
    settings = SipSettings(port=5060, registrar_users={"agent1": "secret"})
    ua = SipUserAgent(settings, local_port=5060)
    metrics = SipMetrics(None, lambda: ua)
    register = (
        b"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-r1\r\n"
        b"From: <sip:agent1@127.0.0.1>;tag=a\r\nTo: <sip:agent1@127.0.0.1>\r\n"
        b"Call-ID: reg-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:agent1@127.0.0.1:5999>\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    ua.receive_datagram(register, ("127.0.0.1", 5999), 1.0)
    ua.receive_datagram(b"\x16\x03\x01 not SIP\r\n\r\n", ("127.0.0.1", 5998), 1.0)
    registry = metrics.registry
    assert _value(registry, 'dipflow_sip_registrations_total{outcome="challenged"}') == 1
    assert _value(registry, 'dipflow_sip_registrations_total{outcome="accepted"}') == 0
    assert _value(registry, 'dipflow_sip_dropped_messages_total{reason="unparseable"}') == 1
