"""End to end: sipp -> SIP channel -> runtime with the bundled Dynamics flow -> the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from dipflow.channels.sip import SipServer, SipSettings
from dipflow.emulator.testing import running_emulator
from dipflow.runtime.demo import demo_config, demo_environ
from dipflow.runtime.runtime import Runtime
from tests.sip.sipp_runner import PCAPS, run_sipp, scenario

pytestmark = pytest.mark.slow

ADA = "+14155550123"  # a contact of the emulator's demo data, with an open case


async def test_bundled_flow_over_sip_looks_up_the_caller_and_takes_menu_choice_2(
    tmp_path: Path,
) -> None:
    with running_emulator(seed="demo", require_auth=True) as crm:
        config = demo_config(emulator=crm, tts="espeak", web_port=0)
        runtime = await Runtime.create(config, environ=demo_environ(crm))
        await runtime.start()
        sip = SipServer(
            SipSettings(host="127.0.0.1", port=0, rtp_port_min=31000, rtp_port_max=31400),
            host=runtime,
            prompts=runtime.prompts,
        )
        await sip.start()
        try:
            xml = scenario("uac_digit_until_bye.xml", tmp_path, CALLER_NUMBER=ADA,
                           DTMF_PCAP_FILE=str(PCAPS / "dtmf_2833_2.pcap"))  # fmt: skip
            result = await run_sipp(xml, sip.address, service="18005550100", timeout_s=90)
        finally:
            await sip.stop()
            await runtime.stop()
    assert result.returncode == 0, result.output[-3000:]
    (summary,) = runtime.recent_calls()
    assert summary.channel == "sip"
    assert summary.ani == ADA
    assert summary.dnis == "18005550100"
    assert not summary.error
    by_activity = {t["activity"]: t for t in summary.trace}
    lookup = by_activity["GetCustomerInfo"]
    assert lookup["kind"] == "http_start"  # sent at call arrival, under the welcome prompt
    assert by_activity["WaitCustomerInfo"]["output_taken"] == "success"
    assert "Ada Lovelace" in str(by_activity["PlayCaseInfo"]["inputs"])  # greeted by name
    menu = by_activity["MainMenu"]
    assert menu["output_taken"] == "2"  # the RFC 4733 digit chose "end the call"
    assert menu["outputs"]["tries"] == 1
    assert "Goodbye" in summary.path
    assert "Disconnect" in summary.path  # the flow hung up: sipp got (and answered) our BYE
    assert summary.queue is None
    # The caller leg's RTP quality (sipp played its pcap to us) is in the summary and the
    # trace the supervisor reads (RFC 3550 numbers; sipp sends no RTCP, so no RTT).
    (media,) = summary.media
    assert media["leg"] == "caller" and media["packets_received"] > 50
    assert media["rtt_ms"] is None and media["rtcp_reports_received"] == 0
    (entry,) = [t for t in summary.trace if t["kind"] == "media_quality"]
    assert entry["outputs"]["packets_received"] == media["packets_received"]


async def test_a_refused_offer_is_a_recent_call_in_error(tmp_path: Path) -> None:
    with running_emulator(seed="demo", require_auth=True) as crm:
        config = demo_config(emulator=crm, tts="espeak", web_port=0)
        runtime = await Runtime.create(config, environ=demo_environ(crm))
        await runtime.start()
        sip = SipServer(
            SipSettings(host="127.0.0.1", port=0, rtp_port_min=31000, rtp_port_max=31400),
            host=runtime,
            prompts=runtime.prompts,
        )
        await sip.start()
        try:
            xml = scenario("uac_offer_refused.xml", tmp_path)
            result = await run_sipp(xml, sip.address, service="18005550100", timeout_s=15)
        finally:
            await sip.stop()
            await runtime.stop()
    assert result.returncode == 0, result.output[-3000:]
    (summary,) = runtime.recent_calls()  # what the supervisor view lists
    assert summary.error and summary.ani == "+15557654321" and summary.channel == "sip"
    (entry,) = summary.trace
    assert entry["kind"] == "refused" and entry["outputs"] == {"status": 488}
    assert "no codec in common" in entry["error"]
