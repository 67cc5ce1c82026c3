"""The Blind Transfer activity through the runtime and the SIP channel, with sipp as the
caller (refusing REFER), the carrier and the destination: a busy destination takes the
activity's error output (the caller hears the flow's apology, then the flow hangs up);
an answered one leaves the legs bridged after the flow has ended."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from dipflow.channels.sip import SipServer, SipSettings
from dipflow.channels.sip.trunkconfig import Credentials, IpTrustAuth, TrunkServer, TrunkSettings
from dipflow.runtime.runtime import Runtime
from tests.runtime.test_runtime_robustness import runtime_for_flow
from tests.sip.sip_host import free_port
from tests.sip.sipp_runner import PCAPS
from tests.trunks.sipp import SippServer, scenario, sipp

pytestmark = pytest.mark.slow

FLOW = """\
name: transfer
start: start
activities:
  start: {kind: start, next: who}
  who: {kind: set_caller_id, caller_id: "+4930123456", next: move}
  move:
    kind: blind_transfer
    destination: "+15550002222"
    on: {error: sorry}
  sorry:
    kind: play_message
    prompt: {text: "Sorry, we could not transfer your call."}
    next: bye
  bye: {kind: disconnect_contact}
"""


def sip_for(runtime: Runtime, carrier_port: int) -> SipServer:
    trunk = TrunkSettings(
        name="carrier", servers=(TrunkServer(host="127.0.0.1", port=carrier_port),),
        auth=IpTrustAuth(addresses=("127.0.0.1",),
                         credentials=Credentials(username="acct", password=SecretStr("pw"))),
        dids=("1000",),
    )  # fmt: skip
    base = 32000 + (free_port() % 3000) * 2
    settings = SipSettings(host="127.0.0.1", port=0, rtp_port_min=base, rtp_port_max=base + 100,
                           trunks=(trunk,))  # fmt: skip
    return SipServer(settings, host=runtime, prompts=runtime.prompts)


async def test_busy_destination_takes_the_error_output(tmp_path: Path) -> None:
    runtime = await runtime_for_flow(tmp_path, "transfer.yaml", FLOW)
    (tmp_path / "uas").mkdir()
    async with SippServer(scenario("uas_busy.xml", tmp_path / "uas")) as busy:
        sip = sip_for(runtime, busy.port)
        await sip.start()
        try:
            caller = scenario("uac_refuses_refer_until_bye.xml", tmp_path,
                              PCAP=str(PCAPS / "g711a.pcap"))  # fmt: skip
            result = await sipp(caller, sip.address, service="1000")
            busy_result = await busy.result()
        finally:
            await sip.stop()
            await runtime.stop()
    assert result.returncode == 0, result.output[-3000:]  # the flow's BYE after the apology
    assert busy_result.returncode == 0
    (summary,) = runtime.recent_calls()
    by_activity = {t["activity"]: t for t in summary.trace}
    assert by_activity["move"]["output_taken"] == "error"
    assert "486" in str(by_activity["move"])
    assert "sorry" in summary.path and "bye" in summary.path


async def test_answered_destination_stays_bridged_after_the_flow_ends(tmp_path: Path) -> None:
    runtime = await runtime_for_flow(tmp_path, "transfer.yaml", FLOW)
    (tmp_path / "uas").mkdir()
    target = scenario("uas_challenge_answer.xml", tmp_path / "uas", CALLER_ID=r"\+4930123456",
                      ACCOUNT="acct", PASSWORD="pw")  # fmt: skip
    async with SippServer(target) as destination:
        sip = sip_for(runtime, destination.port)
        await sip.start()
        try:
            caller = scenario("uac_refuses_refer.xml", tmp_path, PCAP=str(PCAPS / "g711a.pcap"),
                              PAUSE_MS="5000")  # fmt: skip
            # The caller hangs up itself after 5 s: had the IVR hung up when the flow
            # ended, sipp would have received an unexpected BYE and failed.
            result = await sipp(caller, sip.address, service="1000")
            destination_result = await destination.result()
        finally:
            await sip.stop()
            await runtime.stop()
    assert result.returncode == 0, result.output[-3000:]
    # The destination saw the flow's caller id, answered, and got our BYE when the caller left.
    assert destination_result.returncode == 0, destination.messages()[-3000:]
    (summary,) = runtime.recent_calls()
    by_activity = {t["activity"]: t for t in summary.trace}
    assert by_activity["move"]["outputs"] == {"transferred": True}
    assert "sorry" not in summary.path
