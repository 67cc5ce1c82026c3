"""Real peer: sipp calls the SIP channel, streams audio and presses RFC 4733 digits."""

from __future__ import annotations

from pathlib import Path

import pytest
from sip_host import ScriptedHost, running_server
from sipp_runner import PCAPS, run_sipp, scenario

from dipflow.engine.events import CallerHungUp, DigitsCollected, PromptDone

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
