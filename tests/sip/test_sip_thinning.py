"""A queued caller's audio, thinned in the kernel (`thinning.py`), against real sockets.

What a queued caller relies on while nobody hears them: their keys still reach the flow
(RFC 4733 events are never dropped), the call is still seen alive (the watchdog), and the
moment an agent is bridged every packet flows again. What the server relies on: the other
15 of every 16 audio packets never wake the media worker.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from dipflow.channels.sip.latch import MediaPeer
from dipflow.channels.sip.media import RtpSession, SessionListener
from dipflow.channels.sip.media_link import MediaLink
from dipflow.channels.sip.protection import AmplificationGuard
from dipflow.channels.sip.rtp import parse_rtp
from dipflow.channels.sip.settings import SipSettings
from dipflow.channels.sip.thinning import KEEP_ONE_IN, program, thin, unthin
from tests.sip.test_sip_kernel_relay import _Phone
from tests.sip.test_sip_media_worker import _answered, _dtmf_packet, _Events, _port_range


def _rtp(payload_type: int, sequence: int) -> bytes:
    return struct.pack("!BBHII", 0x80, payload_type, sequence, 0, 1) + bytes(160)


def _drain(sock: socket.socket) -> list[bytes]:
    got = []
    sock.settimeout(0.2)
    try:
        while True:
            got.append(sock.recv(2048))
    except TimeoutError:
        return got


def test_the_filter_keeps_every_event_and_rtcp_and_one_audio_packet_in_sixteen() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as leg, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:  # fmt: skip
        leg.bind(("127.0.0.1", 0))
        thin(leg)
        to = leg.getsockname()
        for sequence in range(65530, 65530 + 64):  # across the sequence's wrap
            phone.sendto(_rtp(0, sequence & 0xFFFF), to)
        for payload_type in (8, 9):
            phone.sendto(_rtp(payload_type, 7), to)  # PCMA, G.722: audio too, dropped
        for sequence in range(3):
            phone.sendto(_rtp(101, sequence), to)  # a key: every packet
        phone.sendto(_rtp(13, 5), to)  # comfort noise
        phone.sendto(bytes([0x80, 200]) + bytes(26), to)  # an RTCP sender report (mux)
        phone.sendto(b"\x80", to)  # too short to be RTP: the filter cannot read it, drops
        got = _drain(leg)
        audio = [struct.unpack("!H", p[2:4])[0] for p in got if p[1] & 0x7F in (0, 8, 9)]
        assert audio == [0, 16, 32, 48]
        assert [p[1] & 0x7F for p in got if p[1] & 0x7F not in (0, 8, 9)] == [
            101, 101, 101, 13, 200 & 0x7F
        ]
        unthin(leg)
        unthin(leg)  # twice: no filter left, no error
        for sequence in range(5):
            phone.sendto(_rtp(0, sequence), to)
        assert len(_drain(leg)) == 5


def test_only_a_power_of_two_can_be_kept() -> None:
    with pytest.raises(ValueError, match="power of two"):
        program(12)


@pytest.fixture(params=["thread", pytest.param("process", marks=pytest.mark.slow)])
async def link(request: pytest.FixtureRequest) -> AsyncIterator[MediaLink]:
    low, high = _port_range()
    # A short learning window: a leg is thinned only once no other source may take it.
    media = MediaLink(SipSettings(rtp_port_min=low, rtp_port_max=high,
                                  media_mode=request.param, rtp_latch_window_s=0.5))  # fmt: skip
    await media.start()
    try:
        yield media
    finally:
        await media.stop()


async def _talk(phone: _Phone, leg: object, seconds: float) -> None:
    for _ in range(round(seconds / 0.02)):
        phone.send(leg)  # type: ignore[arg-type]
        phone.drain()
        await asyncio.sleep(0.02)


async def test_a_queued_callers_audio_is_thinned_their_keys_still_heard(
    link: MediaLink,
) -> None:
    phone, events = _Phone(), _Events()
    leg = await link.open()
    assert leg is not None
    leg.listener = events
    _answered(link, leg, phone.negotiated())
    await _talk(phone, leg, 1.5)  # latched, then the worker's check thins the leg
    assert link.stats["thinned_legs"] == 1

    # Still alive to the watchdog: each packet let through counts for the 16.
    before = leg.packets_received
    await _talk(phone, leg, 2.0)
    assert leg.packets_received - before >= 100 - 2 * KEEP_ONE_IN  # ~100 sent in 2 s

    # A key press passes whole (events are never thinned).
    for sequence, end in enumerate((False, True, True, True)):
        phone.send_to(leg, _dtmf_packet(60000 + sequence, 1000, 7, end=end))
    await events.until(lambda: events.digits)
    assert [digit for digit, _ in events.digits] == ["7"]

    # Bridged: every packet again (the pair may then go to the kernel relay, but never
    # thinned), and the gap of the thinned time is not counted as loss.
    agent_phone = _Phone()
    agent = await link.open()
    assert agent is not None
    _answered(link, agent, agent_phone.negotiated())
    leg.bridge, agent.bridge = agent, leg
    for _ in range(round(1.5 / 0.02)):
        phone.send(leg)
        agent_phone.send(agent)
        phone.drain()
        agent_phone.drain()
        await asyncio.sleep(0.02)
    assert link.stats["thinned_legs"] == 0
    agent_phone.heard.clear()
    await asyncio.sleep(0.1)
    for _ in range(25):
        phone.send(leg)
        agent_phone.drain()
        await asyncio.sleep(0.02)
    assert len(agent_phone.heard) >= 15  # the caller is heard: every packet, relayed
    for each in (phone, agent_phone):
        each.sock.close()


def test_a_leg_is_thinned_only_once_its_peer_has_settled() -> None:
    """While the learning window is open a better source may still latch, and probation
    needs consecutive packets: thinning would starve it."""
    peer = MediaPeer(AmplificationGuard(factor=3.0, max_keys=10), window_s=2.0)
    peer.expect(("127.0.0.1", 4000), frozenset({0}))
    assert not peer.settled(0.0)
    packet = parse_rtp(_rtp(0, 1))
    assert packet is not None and peer.accept(("127.0.0.1", 4000), packet, 172, 10.0)
    assert not peer.settled(11.0)
    assert peer.settled(12.0)


def test_the_thinned_time_is_neither_loss_nor_missing_from_the_counts() -> None:
    """The call's quality figures (RTCP's statistics) count what the filter dropped as
    received, not lost: RFC 3550 A.1 would count the sequence gaps as losses."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        peer = MediaPeer(AmplificationGuard(factor=3.0, max_keys=10), window_s=2.0)
        phone = ("127.0.0.1", 4000)
        peer.expect(phone, frozenset({0}))
        session = RtpSession(port=sock.getsockname()[1], listener=SessionListener(), peer=peer)
        session.sock = sock
        for sequence in range(10):
            session.datagram_received(_rtp(0, sequence), phone)
        session.thin(KEEP_ONE_IN)
        for sequence in range(16, 401, 16):  # what the filter lets through, for 8 s
            session.datagram_received(_rtp(0, sequence), phone)
        session.thin(0)  # bridged: every packet again, after a few more were dropped
        for sequence in range(405, 415):
            session.datagram_received(_rtp(0, sequence), phone)
        quality = session.rtcp_reports.state.quality("caller")
        assert quality.packets_lost == 0
        # The same as a leg that got all 415 (RFC 3550 A.1's probation included).
        everything = RtpSession(port=0, listener=SessionListener(), peer=MediaPeer(
            AmplificationGuard(factor=3.0, max_keys=10), window_s=2.0))  # fmt: skip
        everything.peer.expect(phone, frozenset({0}))
        for sequence in range(415):
            everything.datagram_received(_rtp(0, sequence), phone)
        assert quality.packets_received == (
            everything.rtcp_reports.state.quality("caller").packets_received
        )
        assert session.packets_received == 10 + 25 * KEEP_ONE_IN + 10  # the watchdog's
        session.datagram_received(_rtp(0, 417), phone)  # a real loss (415, 416) still counts
        assert session.rtcp_reports.state.quality("caller").packets_lost == 2
