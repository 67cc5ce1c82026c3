"""Who is calling, as phones send it: a Latin-1 display name (RFC 3261 wants UTF-8, many
phones and PBXs send their local charset) is answered, not dropped, and the agent's phone
is shown the caller's name and number. Real peers: sipp as the caller and as the agent's
phone."""

from __future__ import annotations

from pathlib import Path

import pytest

from dipflow.channels.seam import AgentEndpoint
from dipflow.engine.events import CallerHungUp
from tests.sip.sip_host import ScriptedHost, running_server
from tests.sip.sipp_runner import SCENARIOS, SippPeer, run_sipp, scenario

pytestmark = pytest.mark.slow

NAME = "José Núñez"


def _caller(tmp_path: Path, *, encoding: str, hold_ms: int) -> Path:
    """The caller's scenario with its display name written in `encoding` (sipp sends the
    file's bytes as they are)."""
    text = (SCENARIOS / "uac_named_caller.xml").read_text(encoding="latin-1")
    text = text.replace("CALLER_DISPLAY", NAME).replace("HOLD_MS", str(hold_ms))
    target = tmp_path / "uac_named_caller.xml"
    target.write_bytes(text.encode(encoding))
    return target


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
async def test_latin1_display_name_is_answered_and_shown_on_the_agent_phone(
    tmp_path: Path, encoding: str
) -> None:
    async with SippPeer(scenario("uas_agent_phone.xml", tmp_path), timeout_s=40) as phone:
        agent = AgentEndpoint(
            agent_id="agent1", display_name="Agent", sip_uri=f"sip:agent@127.0.0.1:{phone.port}"
        )
        host = ScriptedHost(agent=agent, menu=False, agent_delay_s=0.2)
        async with running_server(host) as server:
            caller = _caller(tmp_path, encoding=encoding, hold_ms=11000)
            result = await run_sipp(caller, server.address, timeout_s=30)
            await host.wait_calls(1, within_s=10)
            garbage = server.ua.stats["garbage"]
        answered = await phone.result()
    assert result.returncode == 0, result.output[-3000:]
    assert answered.returncode == 0, answered.output[-3000:]
    assert garbage == 0  # the Latin-1 INVITE, ACK and BYE were all understood
    (call,) = host.calls
    assert call.ani == "+15551234567"
    assert call.agent_connected is True
    assert call.events[-1] == CallerHungUp()
    # The phone shows the caller's name (sent as UTF-8, as RFC 3261 §7.3.1 wants) and number.
    shown = phone.log_bytes()
    assert f'FROM= "{NAME}" <sip:+15551234567@'.encode() in shown, shown  # sipp keeps the space
