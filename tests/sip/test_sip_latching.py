"""RTP latching and proof of address (latch.py): a NATed phone is heard and answered where
its packets come from; a third party named in an SDP gets nothing; strangers cannot take a
call's media. The NAT itself, with linphone behind it, is in tests/interop."""

from __future__ import annotations

import asyncio
import socket

import pytest

from dipflow.channels.sip.latch import MediaPeer, Rank
from dipflow.channels.sip.media import RtpSession
from dipflow.channels.sip.message import parse_message
from dipflow.channels.sip.protection import AmplificationGuard
from dipflow.channels.sip.rtp import RtpPacket, parse_rtp
from dipflow.channels.sip.sdp import parse_sdp
from tests.sip.sip_helpers import OFFER, in_dialog, invite, to_tag_of
from tests.sip.sip_host import ScriptedHost, running_server

SDP = ("192.168.1.20", 4000)  # what the phone's SDP says (a private address)
NAT = ("203.0.113.7", 61234)  # where its packets come from (its router)
STRANGER = ("198.51.100.9", 5004)


def packet(seq: int, *, ssrc: int = 0x1234, pt: int = 0) -> RtpPacket:
    return RtpPacket(payload_type=pt, sequence=seq, timestamp=seq * 160, ssrc=ssrc,
                     marker=False, payload=bytes(160))  # fmt: skip


def peer(*, signalling_ip: str = NAT[0], verified: tuple[str, ...] = ()) -> MediaPeer:
    guard = AmplificationGuard(factor=3.0, max_keys=64)
    for ip in verified:
        guard.verify(ip)
    media = MediaPeer(guard, window_s=2.0, signalling_ip=signalling_ip)
    media.expect(SDP, frozenset({0, 101}))
    return media


def test_a_phone_behind_nat_is_latched_after_two_packets_in_sequence() -> None:
    media = peer(verified=(NAT[0],))
    media.confirm()
    assert media.destination(172) is None  # the SDP's private address is unproven
    assert not media.accept(NAT, packet(7), 172, now=0.0)  # probation: not delivered yet
    assert media.accept(NAT, packet(8), 172, now=0.02)
    assert media.latched == NAT and media.rank is Rank.SIGNALLING
    assert media.destination(172) == NAT  # answered where it really is
    assert media.accept(NAT, packet(9), 172, now=0.04)


def test_probation_needs_one_ssrc_in_sequence_and_a_negotiated_payload_type() -> None:
    media = peer()
    assert not media.accept(NAT, packet(1), 172, now=0.0)
    assert not media.accept(NAT, packet(3), 172, now=0.0)  # a gap: probation starts over
    assert not media.accept(NAT, packet(4, ssrc=99), 172, now=0.0)  # another stream
    assert not media.accept(NAT, packet(5, ssrc=99, pt=18), 172, now=0.0)  # G.729: not ours
    assert media.latched is None
    assert media.accept(NAT, packet(5, ssrc=99), 172, now=0.0)
    assert media.latched == NAT


def test_the_sdp_address_is_believed_at_once_and_outranks_a_latched_nat_source() -> None:
    media = peer()
    media.accept(NAT, packet(1), 172, now=0.0)
    media.accept(NAT, packet(2), 172, now=0.0)
    assert media.latched == NAT
    assert media.accept(SDP, packet(50, ssrc=5), 172, now=0.5)  # within the window
    assert media.latched == SDP and media.rank is Rank.SDP
    assert not media.accept(NAT, packet(3), 172, now=0.6)  # the old source is out


def test_a_stranger_cannot_take_the_media_and_the_window_closes() -> None:
    media = peer()
    media.accept(NAT, packet(1), 172, now=0.0)
    media.accept(NAT, packet(2), 172, now=0.0)
    for seq in range(10, 20):  # a lower rank, however many packets in sequence
        assert not media.accept(STRANGER, packet(seq, ssrc=66), 172, now=0.1)
    assert media.latched == NAT
    # After the window, not even the SDP's own address takes over ...
    assert not media.accept(SDP, packet(100, ssrc=5), 172, now=2.5)
    assert media.accept(NAT, packet(3), 172, now=2.6)
    # ... until a re-offer opens learning again (the phone moved, or resumed from hold).
    media.expect(SDP, frozenset({0, 101}))
    assert media.rank is Rank.STALE
    assert media.accept(SDP, packet(101, ssrc=5), 172, now=3.0)
    assert media.latched == SDP


def test_nothing_is_sent_before_the_dialog_is_confirmed() -> None:
    media = peer(signalling_ip=SDP[0], verified=(SDP[0],))
    assert media.destination(172) is None
    media.confirm()
    assert media.destination(172) == SDP


def test_an_unproven_address_gets_at_most_three_times_what_it_sent() -> None:
    """A source that is not verified by the signalling: spoofed RTP buys little."""
    media = peer(signalling_ip="10.9.9.9")
    media.confirm()
    media.accept(STRANGER, packet(1, ssrc=3), 172, now=0.0)
    media.accept(STRANGER, packet(2, ssrc=3), 172, now=0.0)
    assert media.latched == STRANGER
    sent = 0
    while media.destination(172) is not None:
        sent += 1
    assert sent == 6  # 3 x the 2 packets it sent
    assert media.withheld == 1
    media.accept(STRANGER, packet(3, ssrc=3), 172, now=0.02)
    assert media.destination(172) == STRANGER  # its own packets keep it going


def _udp(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.setblocking(False)
    return sock


async def _datagrams(sock: socket.socket, seconds: float) -> list[bytes]:
    loop = asyncio.get_running_loop()
    received: list[bytes] = []
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            received.append(await asyncio.wait_for(loop.sock_recv(sock, 2048), left))
        except TimeoutError:
            break
    return received


async def _call(sip: socket.socket, target: tuple[str, int], media: tuple[str, int]) -> bytes:
    """INVITE whose SDP names `media`, then the ACK. Returns our SDP answer."""
    loop = asyncio.get_running_loop()
    port = sip.getsockname()[1]
    offer = OFFER.replace("c=IN IP4 127.0.0.1", f"c=IN IP4 {media[0]}")
    offer = offer.replace("m=audio 6000", f"m=audio {media[1]}")
    sip.sendto(invite(body=offer, port=port), target)
    async with asyncio.timeout(5):
        while True:
            ok = await loop.sock_recv(sip, 65535)
            if ok.startswith(b"SIP/2.0 200"):
                break
    response = parse_message(ok)
    ack = in_dialog("ACK", to_tag=to_tag_of(response), cseq=1, branch="z9hG4bK-ack")
    sip.sendto(ack.replace(b"127.0.0.1:5999", f"127.0.0.1:{port}".encode()), target)
    return response.body


@pytest.mark.parametrize("media_mode", ["inline", "process"])
async def test_an_sdp_naming_a_third_party_sends_it_nothing(media_mode: str) -> None:
    """Issue 11 (reflection): the caller is at 127.0.0.1; its SDP names 127.0.0.2."""
    host = ScriptedHost(menu=False)
    sip, victim = _udp(), _udp("127.0.0.2")
    try:
        async with running_server(host, media_mode=media_mode) as server:
            await _call(sip, server.address, victim.getsockname())
            assert await _datagrams(victim, 1.5) == []
            (session,) = [call.session for call in server.calls.values()]
            if isinstance(session, RtpSession):  # the worker's peer is in the worker
                assert session.peer.withheld > 0
    finally:
        sip.close()
        victim.close()


@pytest.mark.parametrize("media_mode", ["inline", "process"])
async def test_a_phone_whose_rtp_comes_from_another_port_is_answered_there(
    media_mode: str,
) -> None:
    """The SDP names one port; the phone (as behind a NAT) sends from another (in the
    media worker too: it latches with its own ledger, told what the ACK proved)."""
    host = ScriptedHost(menu=False)
    sip, rtp = _udp(), _udp()
    try:
        async with running_server(host, media_mode=media_mode) as server:
            answer = parse_sdp(await _call(sip, server.address, ("127.0.0.1", 9)))
            ours = (answer.address, answer.port)
            header = bytes([0x80, 0]) + (1).to_bytes(2, "big") + bytes(8)
            rtp.sendto(header + bytes(160), ours)
            second = bytes([0x80, 0]) + (2).to_bytes(2, "big") + bytes(8)
            rtp.sendto(second + bytes(160), ours)
            received = await _datagrams(rtp, 1.0)
            assert len(received) >= 40  # the greeting, paced, to where the phone is
            parsed = [parse_rtp(data) for data in received]
            assert all(p is not None and p.payload_type == 0 for p in parsed)
    finally:
        sip.close()
        rtp.close()
