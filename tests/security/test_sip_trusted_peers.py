"""Issue 11, item 11: per-address protections turned against a trunk, on a real node.

The attack as filed: 25 garbage datagrams "from" a carrier's SBC (anybody can forge a UDP
source address) put the SBC in the penalty box and its calls went unanswered for 10 s,
again and again. Now a configured peer is never penalised, and its calls keep coming in;
an ordinary source that sends the same garbage is still silenced.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from tests.security.node import running_node
from tests.security.sip_peer import SipPeer, place_call
from tests.sip.sipp_runner import run_sipp

pytestmark = pytest.mark.slow

SBC = "127.0.0.5"
STRANGER = "127.0.0.6"
SCENARIOS = Path(__file__).parent / "scenarios"


def _garbage_from(ip: str, target: tuple[str, int], count: int) -> None:
    """`count` unparseable datagrams from `ip` (another port than the peer's real one, as
    a forger's would be)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((ip, 0))
        for n in range(count):
            sock.sendto(b"\x16\x03\x01 not sip %d\r\n\r\n" % n, target)


async def test_forged_garbage_does_not_silence_a_trusted_sbc(tmp_path: Path) -> None:
    async with running_node(sip={"trusted_peers": [SBC]}) as node:
        target = node.sip_address
        _garbage_from(SBC, target, 25)
        _garbage_from(STRANGER, target, 25)
        await asyncio.sleep(0.3)
        assert node.sip.ua.protection.penalised(STRANGER, node.sip.driver.now())
        assert not node.sip.ua.protection.penalised(SBC, node.sip.driver.now())

        # The carrier's SBC (sipp from its address) places a call: answered, as always.
        text = (SCENARIOS / "uac_call_bye.xml").read_text()
        xml = tmp_path / "uac_call_bye.xml"
        xml.write_text(
            text.replace("CALLER_NUMBER", "+14155550123")
            .replace("EXTRA_HEADER", "Subject: trunk call")
            .replace("PAUSE_MS", "500")
        )
        result = await run_sipp(xml, target, service="18005550100", timeout_s=20,
                                extra=("-i", SBC))  # fmt: skip
        assert result.returncode == 0, result.output[-2000:]
        assert len(node.sip.ua.protection.trusted_invites) == 1  # it came from the SBC
        # Repeatable: garbage again, and another call gets through.
        _garbage_from(SBC, target, 200)
        await asyncio.sleep(0.3)
        result = await run_sipp(xml, target, service="18005550100", timeout_s=20,
                                extra=("-i", SBC))  # fmt: skip
        assert result.returncode == 0, result.output[-2000:]

        # The protection still holds for everybody else: the stranger is ignored.
        stranger = await SipPeer.open(STRANGER)
        try:
            assert await place_call(stranger, target, within_s=1.5) is None
        finally:
            stranger.close()
