"""The media worker through its link, in each place it can run: real sockets on loopback.

What a call relies on: a leg gets an even port of the range, plays what it is given as
20 ms G.711 RTP to the negotiated address, reports the end of a prompt once, stops a
prompt on a DTMF key (barge-in) and reports the key, relays between bridged legs, and
only the latest playback of a leg may report; the range running out is a clean None.
Latching (`latch.py`) holds in the worker: nothing is sent before the dialog is
confirmed, nothing to an address that never proved itself, and a phone's own RTP both
proves it and moves our media to where it really comes from.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from dipflow.channels.errors import ChannelError
from dipflow.channels.sip.digits import DigitMethod
from dipflow.channels.sip.media import Playback
from dipflow.channels.sip.media_link import MediaLeg, MediaLink
from dipflow.channels.sip.media_wire import MAX_MESSAGE_BYTES, encode, read_message
from dipflow.channels.sip.rtp import HEADER, DtmfDigit, RtpStream, parse_rtp
from dipflow.channels.sip.sdp import Codec, Direction, Negotiated
from dipflow.channels.sip.settings import SipSettings
from dipflow.channels.sip.srtp import KEY_BYTES, SrtpContext
from dipflow.media import g711
from tests.media.test_media_dtmf import silence, tone

SUITE = "AES_CM_128_HMAC_SHA1_80"
MODES = ["inline", "thread", pytest.param("process", marks=pytest.mark.slow)]


def _port_range(size: int = 100) -> tuple[int, int]:
    """A random even range below the ephemeral ports (the machine may be shared)."""
    low = random.randrange(10000, 19000, 2)
    return low, low + size


class _Events:
    def __init__(self) -> None:
        self.digits: list[tuple[str, bool]] = []
        self.methods: list[DigitMethod] = []
        self.done = 0
        self.changed = asyncio.Event()

    def on_digit(self, session: MediaLeg, digit: DtmfDigit, method: DigitMethod) -> None:
        # As `SipCall` does: a key during an interruptible prompt stops it (barge-in).
        playing = session.playback
        interrupted = playing is not None and playing.interruptible
        if interrupted:
            session.play(None)
        self.digits.append((digit.value, interrupted))
        self.methods.append(method)
        self.changed.set()

    def on_playback_done(self, session: MediaLeg, playback: Playback) -> None:
        self.done += 1
        self.changed.set()

    async def until(self, condition: object, limit_s: float = 5.0) -> None:
        async with asyncio.timeout(limit_s):
            while not condition():  # type: ignore[operator]
                self.changed.clear()
                await self.changed.wait()


class _Phone:
    """A UDP socket standing in for the far end's RTP port."""

    def __init__(self, host: str = "127.0.0.1", server: str = "127.0.0.1") -> None:
        self.host, self.server = host, server
        """Where this phone is, and where it sends to (the legs' address)."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])

    def negotiated(self, codec: Codec = Codec.PCMU) -> Negotiated:
        return Negotiated(codec=codec, dtmf_payload_type=101, remote_address=self.host,
                          remote_port=self.port, direction=Direction.SENDRECV)  # fmt: skip

    async def payloads(self, count: int, limit_s: float = 5.0) -> list[bytes]:
        loop = asyncio.get_running_loop()
        out: list[bytes] = []
        async with asyncio.timeout(limit_s):
            while len(out) < count:
                packet = parse_rtp(await loop.sock_recv(self.sock, 2048))
                assert packet is not None
                out.append(packet.payload)
        return out

    def send_to(self, leg: MediaLeg, data: bytes) -> None:
        self.sock.sendto(data, (self.server, leg.port))


def _playback(audio: bytes, *, loop: bool, interruptible: bool) -> Playback:
    return Playback(prompt_id=None if loop else "p", audio=audio, loop=loop,
                    interruptible=interruptible)  # fmt: skip


def _answered(link: MediaLink, leg: MediaLeg, negotiated: Negotiated) -> None:
    """What the channel does for an answered call: the SDP, the signalling's proof of the
    phone's IP (it echoed our tag), the ACK, then pacing."""
    leg.configure(negotiated)
    link.verify(negotiated.remote_address)
    leg.peer.confirm()
    leg.sending = True


@pytest.fixture
def phones() -> Iterator[Callable[[], _Phone]]:
    made: list[_Phone] = []

    def make() -> _Phone:
        made.append(_Phone())
        return made[-1]

    yield make
    for phone in made:
        phone.sock.close()


@pytest.fixture(params=MODES)
async def link(request: pytest.FixtureRequest) -> AsyncIterator[MediaLink]:
    low, high = _port_range()
    settings = SipSettings(rtp_port_min=low, rtp_port_max=high, media_mode=request.param)
    media = MediaLink(settings)
    await media.start()
    try:
        yield media
    finally:
        await media.stop()


def _dtmf_packet(sequence: int, timestamp: int, digit: int, *, end: bool) -> bytes:
    """RFC 4733 §2.3: every packet of one key press carries the event's timestamp."""
    header = HEADER.pack(0x80, 101, sequence, timestamp, 0x1234)
    return header + bytes([digit, 0x80 if end else 0x00]) + (800).to_bytes(2, "big")


async def test_a_prompt_is_sent_as_20ms_frames_and_reported_done_once(
    link: MediaLink, phones: Callable[[], _Phone]
) -> None:
    phone, events = phones(), _Events()
    leg = await link.open()
    assert leg is not None and leg.port % 2 == 0
    assert link.settings.rtp_port_min <= leg.port < link.settings.rtp_port_max
    leg.listener = events
    _answered(link, leg, phone.negotiated())
    audio = bytes(range(256)) * 2  # 512 samples: three frames and a bit
    leg.play(_playback(audio, loop=False, interruptible=False))
    payloads = await phone.payloads(8)
    start = payloads.index(audio[:160])
    assert payloads[start + 1] == audio[160:320] and payloads[start + 2] == audio[320:480]
    assert payloads[start + 3] == audio[480:] + b"\xff" * 128  # padded with µ-law silence
    assert payloads[start + 4] == b"\xff" * 160  # then comfort silence
    await events.until(lambda: events.done == 1)
    leg.close()


async def test_a_digit_interrupts_an_interruptible_prompt(
    link: MediaLink, phones: Callable[[], _Phone]
) -> None:
    phone, events = phones(), _Events()
    leg = await link.open()
    assert leg is not None
    leg.listener = events
    _answered(link, leg, phone.negotiated())
    leg.play(_playback(b"\x10" * 8000 * 10, loop=False, interruptible=True))  # 10 s
    await phone.payloads(2)
    for seq, end in enumerate((False, True, True, True)):  # one press, redundant ends
        phone.send_to(leg, _dtmf_packet(seq, 1000, 5, end=end))
    await events.until(lambda: events.digits)
    assert events.digits == [("5", True)]
    assert events.methods == [DigitMethod.RFC4733]
    # The prompt stopped at once: silence follows, and no `done` for it ever comes.
    await phone.payloads(5)
    assert set(await phone.payloads(3)) == {b"\xff" * 160}
    assert events.done == 0
    # A digit during music is reported but interrupts nothing.
    leg.play(_playback(b"\x20" * 800, loop=True, interruptible=False))
    phone.send_to(leg, _dtmf_packet(9, 5000, 2, end=True))
    await events.until(lambda: len(events.digits) == 2)
    assert events.digits[1] == ("2", False)


async def test_media_waits_for_the_ack_and_goes_only_where_rtp_proves_a_phone(
    link: MediaLink, phones: Callable[[], _Phone]
) -> None:
    sdp_phone, natted = phones(), phones()
    leg = await link.open(signalling_ip="127.0.0.1")
    assert leg is not None
    # The SDP names `sdp_phone`; nobody proved 127.0.0.1 in the signalling.
    leg.configure(sdp_phone.negotiated())
    leg.sending = True
    leg.play(_playback(b"\x44" * 1600, loop=True, interruptible=False))
    leg.peer.confirm()
    with pytest.raises(TimeoutError):  # an unproven address gets nothing (amplification)
        await sdp_phone.payloads(1, limit_s=0.3)
    # The phone behind a NAT sends from another port: its RTP proves the address (the
    # ledger counts what it sent) and, after probation, takes the leg's media.
    stream = RtpStream(int(Codec.PCMU))
    for _ in range(10):
        natted.send_to(leg, stream.packet(b"\xff" * 160))
        await asyncio.sleep(0.02)
    heard = await natted.payloads(3)
    assert b"\x44" * 160 in heard


async def test_no_media_before_the_dialog_is_confirmed(
    link: MediaLink, phones: Callable[[], _Phone]
) -> None:
    phone = phones()
    leg = await link.open()
    assert leg is not None
    leg.configure(phone.negotiated())
    link.verify("127.0.0.1")
    leg.sending = True
    leg.play(_playback(b"\x45" * 1600, loop=True, interruptible=False))
    with pytest.raises(TimeoutError):  # no ACK yet
        await phone.payloads(1, limit_s=0.3)
    leg.peer.confirm()
    assert b"\x45" * 160 in await phone.payloads(3)


async def test_only_the_latest_playback_reports(
    link: MediaLink, phones: Callable[[], _Phone]
) -> None:
    phone, events = phones(), _Events()
    leg = await link.open()
    assert leg is not None
    leg.listener = events
    _answered(link, leg, phone.negotiated())
    leg.play(_playback(b"\x01" * 160, loop=False, interruptible=False))
    leg.play(_playback(b"\x02" * 480, loop=False, interruptible=False))  # replaces it
    await events.until(lambda: events.done >= 1)
    await phone.payloads(6)
    assert events.done == 1  # the replaced prompt never reports


async def test_bridged_legs_relay_each_others_audio_transcoded(
    link: MediaLink, phones: Callable[[], _Phone]
) -> None:
    caller, agent = phones(), phones()
    caller_leg, agent_leg = await link.open(), await link.open()
    assert caller_leg is not None and agent_leg is not None
    _answered(link, caller_leg, caller.negotiated(Codec.PCMU))
    _answered(link, agent_leg, agent.negotiated(Codec.PCMA))
    caller_leg.play(_playback(b"\x33" * 800, loop=True, interruptible=False))
    caller_leg.play(None)  # as bridge.py does: the music stops, each relays the other
    caller_leg.bridge, agent_leg.bridge = agent_leg, caller_leg
    stream = RtpStream(int(Codec.PCMA))
    alaw = bytes([0xD5 ^ 0x10]) * 160  # a quiet A-law tone frame
    for _ in range(25):
        agent.send_to(agent_leg, stream.packet(alaw))
        await asyncio.sleep(0.02)
    heard = await caller.payloads(40)
    assert g711.alaw_to_ulaw(alaw) in heard  # the agent's audio, in the caller's codec
    assert b"\x33" * 160 not in heard[-10:]  # and the music has stopped


async def test_running_out_of_ports_is_none_not_an_error() -> None:
    low, high = _port_range(4)
    settings = SipSettings(rtp_port_min=low, rtp_port_max=high, media_mode="inline")
    media = MediaLink(settings)
    await media.start()
    try:
        legs = [await media.open() for _ in range(3)]
        assert legs[0] is not None and legs[1] is not None and legs[2] is None
        legs[0].close()
        again = await media.open()
        assert again is not None  # a closed leg's port is free again
    finally:
        await media.stop()


async def test_worker_messages_are_framed_plain_data() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(encode(("play", 1, "key", 2, True, False)))
    assert await read_message(reader) == ("play", 1, "key", 2, True, False)
    huge = asyncio.StreamReader()
    huge.feed_data((MAX_MESSAGE_BYTES + 1).to_bytes(4, "big"))
    with pytest.raises(ValueError, match="bytes"):
        await read_message(huge)
    broken = asyncio.StreamReader()
    broken.feed_data((3).to_bytes(4, "big") + b"\xff\xff\xff")
    with pytest.raises(ValueError, match=r"marshal|bad"):  # marshal refuses what it did not write
        await read_message(broken)


@pytest.mark.slow
async def test_a_worker_that_cannot_start_is_an_error_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    low, high = _port_range()
    media = MediaLink(SipSettings(rtp_port_min=low, rtp_port_max=high, media_mode="process"))
    monkeypatch.setattr("sys.executable", "/bin/false")  # the child exits at once
    with pytest.raises(ChannelError, match="did not start"):
        await media.start()


@pytest.mark.slow
async def test_calls_get_no_port_once_the_worker_is_gone() -> None:
    low, high = _port_range()
    media = MediaLink(SipSettings(rtp_port_min=low, rtp_port_max=high, media_mode="process"))
    await media.start()
    try:
        assert await media.open() is not None
        pid = media.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        async with asyncio.timeout(10):
            while await media.open() is not None:  # noqa: ASYNC110 - until the link sees it go
                await asyncio.sleep(0.05)
    finally:
        await media.stop()


async def test_srtp_keys_reach_the_worker_and_keys_in_the_clear_are_not_heard(
    link: MediaLink, phones: Callable[[], _Phone]
) -> None:
    phone, events = phones(), _Events()
    leg = await link.open()
    assert leg is not None
    leg.listener = events
    ours, theirs = os.urandom(KEY_BYTES), os.urandom(KEY_BYTES)
    leg.srtp = SrtpContext(SUITE, ours, theirs)
    far_end = SrtpContext(SUITE, theirs, ours)  # the phone's side of the same keys
    _answered(link, leg, phone.negotiated())
    leg.play(_playback(b"\x46" * 1600, loop=True, interruptible=False))
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(5):
        protected = await loop.sock_recv(phone.sock, 2048)
    plain = far_end.unprotect(protected)
    assert plain is not None and protected[12:172] != plain[12:172]
    packet = parse_rtp(plain)
    assert packet is not None and packet.payload == b"\x46" * 160
    # A key sent in the clear on an SRTP leg is dropped; the protected one is heard.
    phone.send_to(leg, _dtmf_packet(1, 100, 3, end=True))
    phone.send_to(leg, far_end.protect(_dtmf_packet(2, 200, 4, end=True)))
    await events.until(lambda: events.digits)
    await asyncio.sleep(0.1)
    assert [digit for digit, _ in events.digits] == ["4"]


async def test_a_tapped_leg_forwards_what_the_caller_says_until_untapped(
    link: MediaLink, phones: Callable[[], _Phone]
) -> None:
    phone = phones()
    leg = await link.open()
    assert leg is not None
    _answered(link, leg, phone.negotiated(Codec.PCMA))
    heard: list[tuple[int, bytes]] = []
    arrived = asyncio.Event()

    def tap(payload_type: int, payload: bytes) -> None:
        heard.append((payload_type, payload))
        arrived.set()

    leg.taps.append(tap)
    leg.play(_playback(b"\x47" * 1600, loop=True, interruptible=False))
    await phone.payloads(1)  # commands are taken in order: the tap is in place
    stream = RtpStream(int(Codec.PCMA))
    phone.send_to(leg, stream.packet(b"\x55" * 160))
    async with asyncio.timeout(5):
        await arrived.wait()
    assert heard == [(int(Codec.PCMA), b"\x55" * 160)]
    leg.taps.remove(tap)
    await asyncio.sleep(0.05)
    phone.send_to(leg, stream.packet(b"\x56" * 160))
    await asyncio.sleep(0.3)
    assert len(heard) == 1  # untapped: the worker no longer forwards


async def test_keys_as_tones_are_heard_when_the_offer_has_no_telephone_event(
    link: MediaLink, phones: Callable[[], _Phone]
) -> None:
    phone, events = phones(), _Events()
    leg = await link.open()
    assert leg is not None
    leg.listener = events
    leg.listens_for_keys = True  # the caller's leg
    plain = Negotiated(codec=Codec.PCMU, dtmf_payload_type=None, remote_address="127.0.0.1",
                       remote_port=phone.port, direction=Direction.SENDRECV)  # fmt: skip
    _answered(link, leg, plain)
    # The key 6 (1477 Hz + 770 Hz), 100 ms, made by sox as in tests/media, then silence.
    samples = tone("6", 0.1) + silence(0.1)
    audio = g711.ulaw_encode(samples.tobytes())
    stream = RtpStream(int(Codec.PCMU))
    for start in range(0, len(audio), 160):
        phone.send_to(leg, stream.packet(audio[start : start + 160]))
        await asyncio.sleep(0.005)
    await events.until(lambda: events.digits)
    assert [digit for digit, _ in events.digits] == ["6"]
    assert events.methods == [DigitMethod.INBAND]


class _IgnoresKeys(_Events):
    """A call that takes keys by another route (digits.py) or is bridged: no barge-in."""

    def on_digit(self, session: MediaLeg, digit: DtmfDigit, method: DigitMethod) -> None:
        self.digits.append((digit.value, False))
        self.changed.set()


async def test_the_worker_leaves_barge_in_to_the_call(
    link: MediaLink, phones: Callable[[], _Phone]
) -> None:
    phone, events = phones(), _IgnoresKeys()
    leg = await link.open()
    assert leg is not None
    leg.listener = events
    _answered(link, leg, phone.negotiated())
    leg.play(_playback(b"\x11" * 8000, loop=False, interruptible=True))  # 1 s
    await phone.payloads(2)
    phone.send_to(leg, _dtmf_packet(0, 1000, 5, end=True))
    await events.until(lambda: events.digits)
    # The call ignored the key: the prompt plays to its end and reports it, so the flow
    # is never left waiting for a prompt the worker dropped on its own.
    await events.until(lambda: events.done == 1, limit_s=3.0)
