"""Issue 11, item 10: caller identity trusted from any source, on a real node with the
bundled Dynamics flow and the CRM emulator.

The attack as filed: `dipflow serve` speaks a customer's name and latest case to whatever
From or P-Asserted-Identity arrives. Now P-Asserted-Identity counts only from a configured
peer (RFC 3325 trust domain); a caller from anywhere else is "unverified", and the
bundled flow greets them generically, without looking them up, unless the deployment
says otherwise (`IdentifyUnverifiedCallers`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from dipflow.runtime.notices import CallSummary
from tests.security.node import Node, running_node
from tests.security.sip_peer import SipPeer, in_dialog, place_call

pytestmark = pytest.mark.slow

ADA = "+14155550123"  # a contact of the emulator's demo data, with an open case
STRANGER_NUMBER = "+14155550999"
TRUNK = "127.0.0.5"
ELSEWHERE = "127.0.0.6"


async def _call(node: Node, peer: SipPeer, *, ani: str, pai: str | None) -> CallSummary:
    """Call in, wait until the flow has greeted the caller and decided how to serve them,
    hang up; the call's summary."""
    extra = (f"P-Asserted-Identity: <sip:{pai}@carrier.example>",) if pai else ()
    dialog = await place_call(peer, node.sip_address, ani=ani, extra_headers=extra)
    assert dialog is not None
    summary: CallSummary | None = None
    for _ in range(200):
        calls = node.runtime.active_calls()
        if calls and {"MainMenu", "QueueContact"} & set(calls[0].path):
            summary = calls[0]
            break
        await asyncio.sleep(0.05)
    assert summary is not None, node.runtime.active_calls()
    peer.send(in_dialog(peer, dialog, "BYE", ani=ani, cseq=2), node.sip_address)
    dialog.rtp.close()
    await asyncio.sleep(0.2)
    return summary


def _said(summary: CallSummary) -> str:
    return json.dumps([entry.get("inputs") for entry in summary.trace])


def _trace(summary: CallSummary) -> dict[str, dict[str, Any]]:
    return {entry["activity"]: entry for entry in summary.trace}


async def test_only_a_trusted_peer_vouches_for_a_caller() -> None:
    async with running_node(sip={"trusted_peers": [TRUNK]}) as node:
        trunk = await SipPeer.open(TRUNK)
        stranger = await SipPeer.open(ELSEWHERE)
        try:
            # Anybody may claim to be Ada, in From or in P-Asserted-Identity...
            forged = await _call(node, stranger, ani=ADA, pai=ADA)
            assert forged.ani == ADA
            assert "GetCustomerInfo" not in forged.path  # not looked up at all
            assert "GreetingUnverified" in forged.path
            assert "Ada Lovelace" not in _said(forged)
            assert "Lovelace" not in json.dumps(forged.trace)

            # ...and an asserted identity from outside the trust domain is ignored.
            other = await _call(node, stranger, ani=STRANGER_NUMBER, pai=ADA)
            assert other.ani == STRANGER_NUMBER

            # The carrier's trunk vouches: its P-Asserted-Identity is the caller's
            # number, and the caller is greeted by name with their case.
            vouched = await _call(node, trunk, ani="anonymous", pai=ADA)
            assert vouched.ani == ADA
            steps = _trace(vouched)
            assert steps["WaitCustomerInfo"]["output_taken"] == "success"
            assert "Ada Lovelace" in str(steps["PlayCaseInfo"]["inputs"])
        finally:
            trunk.close()
            stranger.close()


async def test_a_deployment_may_choose_to_identify_unverified_callers() -> None:
    async with running_node(
        tweak={"flows": [{"dnis": "*", "flow": "ms-dynamics-data-dip",
                          "variables": {"IdentifyUnverifiedCallers": True}}]},
    ) as node:  # fmt: skip
        stranger = await SipPeer.open(ELSEWHERE)
        try:
            looked_up = await _call(node, stranger, ani=ADA, pai=None)
            assert _trace(looked_up)["WaitCustomerInfo"]["output_taken"] == "success"
            assert "Ada Lovelace" in _said(looked_up)
        finally:
            stranger.close()
