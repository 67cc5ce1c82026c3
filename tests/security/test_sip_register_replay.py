"""Issue 11, item 4: registration hijack by digest replay, against a real node.

The attack as filed: an eavesdropper replays an agent's captured REGISTER from another
port; the binding moves to the attacker, and the next call the agent accepts rings the
attacker. Now every correct digest answer is usable once (its nonce count must grow,
RFC 7616), nonces answer only for the address they were issued to and expire.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from dipflow.channels.sip.message import SipMessage
from tests.security.node import queue_flow, running_node
from tests.security.sip_peer import (
    SipPeer,
    challenge_params,
    digest_header,
    place_call,
)

pytestmark = pytest.mark.slow


def _rebranch(data: bytes) -> bytes:
    """The same REGISTER with a new Via branch: a new transaction for the server, the
    same digest answer (the branch is not part of what the digest covers)."""
    head, sep, rest = data.partition(b";branch=")
    old_branch, _, tail = rest.partition(b";")
    assert old_branch.startswith(b"z9hG4bK")
    return head + sep + b"z9hG4bK" + secrets.token_hex(8).encode() + b";" + tail


async def _invites_within(peer: SipPeer, seconds: float) -> list[SipMessage]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    invites = []
    while (left := deadline - loop.time()) > 0:
        message = await peer.next_message(left)
        if message is not None and message.method == "INVITE":
            invites.append(message)
    return invites


async def test_a_replayed_register_moves_nothing_and_calls_still_ring_the_agents_phone(
    tmp_path: Path,
) -> None:
    async with running_node(sip={"agent_ring_timeout_s": 3.0}, flow=queue_flow(tmp_path)) as node:
        server = node.sip_address
        phone = await SipPeer.open("127.0.0.1")
        attacker = await SipPeer.open("127.0.0.1")  # same host, another port: as filed
        remote = await SipPeer.open("127.0.0.9")  # and from another address
        caller = await SipPeer.open("127.0.0.1")
        try:
            ok, captured = await phone.register(user="agent1", password="agent1", server=server)
            assert ok is not None and ok.status == 200

            # Verbatim replay (same branch): at most a retransmission of the old answer,
            # which goes to the phone, never to the attacker.
            attacker.send(captured, server)
            # A new transaction carrying the same answer: refused as a replay.
            attacker.send(_rebranch(captured), server)
            remote.send(_rebranch(captured), server)
            await asyncio.sleep(1.0)
            for peer in (attacker, remote):
                statuses = [m.status for m in peer.drain()]
                assert 200 not in statuses, statuses
            assert node.sip.ua.stats["auth_replays"] >= 1
            binding = node.sip.ua.registrar.lookup("agent1", node.sip.driver.now())
            assert binding is not None
            assert binding.source == ("127.0.0.1", phone.port)

            # What the hijack was for: the next call agent1 accepts must ring the phone.
            dialog = await place_call(caller, server)
            assert dialog is not None
            runtime = node.runtime
            await runtime.center.login("agent1")
            await runtime.center.set_available("agent1")
            (call_id,) = [c.call_id for c in runtime.active_calls()]
            phone.drain()
            accept = asyncio.create_task(runtime.agent_accept("agent1", call_id))
            at_phone = await _invites_within(phone, 2.0)
            at_attacker = [m for m in attacker.drain() if m.method == "INVITE"]
            assert len(at_phone) >= 1
            assert at_attacker == []
            assert await accept is False  # the test's phone does not answer
            dialog.rtp.close()
        finally:
            for peer in (phone, attacker, remote, caller):
                peer.close()


async def test_nonces_expire_and_a_stale_answer_is_challenged_again() -> None:
    async with running_node(sip={"register_nonce_lifetime_s": 5}) as node:
        server = node.sip_address
        phone = await SipPeer.open("127.0.0.1")
        try:
            call_id = secrets.token_hex(8)
            phone.send(phone.register_bytes(user="agent2", server=server, call_id=call_id,
                                            cseq=1), server)  # fmt: skip
            challenge = await phone.final_response(call_id)
            assert challenge is not None and challenge.status == 401
            old = challenge_params(challenge)
            await asyncio.sleep(5.5)
            uri = f"sip:{server[0]}:{server[1]}"
            late = digest_header(user="agent2", password="agent2", realm=old["realm"],
                                 nonce=old["nonce"], uri=uri)  # fmt: skip
            phone.send(phone.register_bytes(user="agent2", server=server, call_id=call_id, cseq=2,
                                            authorization=late), server)  # fmt: skip
            stale = await phone.final_response(call_id)
            assert stale is not None and stale.status == 401
            fresh = challenge_params(stale)
            assert fresh.get("stale", "").lower() == "true"
            assert fresh["nonce"] != old["nonce"]
            assert node.sip.ua.registrar.lookup("agent2", node.sip.driver.now()) is None
            # A correct answer to the fresh nonce registers (a stale answer is no failure).
            answer = digest_header(user="agent2", password="agent2", realm=fresh["realm"],
                                   nonce=fresh["nonce"], uri=uri)  # fmt: skip
            phone.send(phone.register_bytes(user="agent2", server=server, call_id=call_id, cseq=3,
                                            authorization=answer), server)  # fmt: skip
            ok = await phone.final_response(call_id)
            assert ok is not None and ok.status == 200
            assert node.sip.ua.stats["auth_failures"] == 0
            # ...once: the same answer again (a new transaction) is a replay.
            phone.send(phone.register_bytes(user="agent2", server=server, call_id=call_id, cseq=4,
                                            authorization=answer), server)  # fmt: skip
            again = await phone.final_response(call_id)
            assert again is not None and again.status == 401
            assert node.sip.ua.stats["auth_replays"] == 1
        finally:
            phone.close()
