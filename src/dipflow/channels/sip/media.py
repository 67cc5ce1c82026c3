"""RTP media for SIP calls on asyncio: sockets, drift-free pacing, playback, DTMF, relay.

Layer 4 (channels).

One `MediaClock` task paces every session of the server. It wakes on an absolute
5 ms grid (deadline = start + k * 5 ms, never `sleep(0.02)` in a loop, so error
does not accumulate) and each session sends on one of the four 5 ms slots of a
20 ms frame, which spreads the work of many calls evenly over the frame.
Lateness of every packet against its deadline is recorded (send jitter).

A session sends what it plays (a prompt, looped music), relays the bridged
peer's audio (transcoded µ-law <-> A-law when the legs differ), or comfort
silence when idle, so the far end's jitter buffer and any NAT binding stay alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from dipflow.channels.sip import thinning
from dipflow.channels.sip.codecs import SILENCE, Transcoder, transcode
from dipflow.channels.sip.digits import DigitMethod
from dipflow.channels.sip.events import Address
from dipflow.channels.sip.latch import Ledger, MediaPeer
from dipflow.channels.sip.rtcp import is_rtcp
from dipflow.channels.sip.rtcp_io import RtcpReports
from dipflow.channels.sip.rtp import (
    FRAME_SAMPLES,
    HEADER,
    DtmfDigit,
    DtmfReceiver,
    RtpStream,
    parse_rtp,
)
from dipflow.channels.sip.sdp import Codec, Negotiated
from dipflow.channels.sip.srtp import SrtpContext
from dipflow.media.dtmf import DtmfDetector

log = logging.getLogger(__name__)

TICK_S = 0.002
SLOTS = 10  # 10 x 2 ms = one 20 ms frame
"""The pacer's grid: each leg sends on one slot of ten. The legs of a slot leave in one
batch, so its last packet is late by the batch's length: ten slots keep a batch at a
tenth of the legs (1,500 legs: ~150 sends, ~1 ms), where four 5 ms slots made it ~3 ms."""
_SILENCE = SILENCE
_CODECS = frozenset(int(c) for c in Codec)
_RELAY_MAX = FRAME_SAMPLES * 10  # keep at most 200 ms of bridged audio (bounded latency)
_PACKET_BYTES = HEADER.size + FRAME_SAMPLES  # one G.711 20 ms packet, as the ledger counts it


@dataclass(slots=True)
class Playback:
    """Encoded audio being played from `position` (bytes = samples for G.711)."""

    prompt_id: str | None
    audio: bytes
    loop: bool
    interruptible: bool
    position: int = 0
    codec: Codec | None = None
    """What `audio` is encoded for (None: the session's codec when played)."""


class SessionListener:
    """What a session tells its call about (overridden by `SipCall`)."""

    def on_digit(self, session: RtpSession, digit: DtmfDigit, method: DigitMethod) -> None: ...

    def on_playback_done(self, session: RtpSession, playback: Playback) -> None: ...


class RtpSession(asyncio.DatagramProtocol):
    """One call leg's RTP: a UDP socket, what to send, where from and to."""

    def __init__(
        self, *, port: int, listener: SessionListener, peer: MediaPeer, host: str = "127.0.0.1"
    ) -> None:
        self.port = port
        self.listener = listener
        self.peer = peer
        """Where the far end's media comes from and ours may go (latching, proof)."""
        self.transport: asyncio.DatagramTransport | None = None
        self.sock: socket.socket | None = None
        """The bound socket itself, for sending (the transport receives)."""
        self.dropped = 0
        self.codec = Codec.PCMU
        self.stream = RtpStream(int(Codec.PCMU))
        self.dtmf = DtmfReceiver(None)
        self.listens_for_keys = False
        """The caller's leg: keys drive the flow (an agent's leg: they do not)."""
        self.inband: DtmfDetector | None = None
        """Tone detection, on a caller's leg whose offer had no telephone-event."""
        self.playback: Playback | None = None
        self._finished: Playback | None = None
        self.sending = False
        """Paced only once answered, and not while the peer holds us (RFC 3264 §8.4)."""
        self.bridge: RtpSession | None = None
        self.relay = bytearray()
        self._tones_g722: Transcoder | None = None
        self.to_bridge: Transcoder | None = None
        """What we received, in the bridged leg's codec (G.722 keeps state per direction)."""
        self.slot = 0
        self.first_packet = True
        self.packets_sent = 0
        self.packets_received = 0
        self.ignored_sources = 0
        """Packets dropped as not the peer's media (a stranger's, or an unexpected type)."""
        self.last_received = 0.0
        self.refused_since: float | None = None
        """First ICMP port unreachable since the peer last sent (connected sockets only)."""
        self.refused_last = 0.0
        self.connected: Address | None = None
        """Where the socket is connected (`connect_peer`): packets to it go by `send`, which
        spares the kernel a route lookup and Python an address parse (~0.5 µs a packet)."""
        self.rtcp_reports = RtcpReports(self, ssrc=self.stream.ssrc, host=host)
        """RTCP (RFC 3550): reports, and the quality of this leg (`rtcp_io.py`)."""
        self.srtp: SrtpContext | None = None
        """Set for an SRTP leg (srtp.py): what we send is protected, what we get unprotected."""
        self.taps: list[Callable[[int, bytes], None]] = []
        """Who also hears the caller's audio (a media stream): `(payload type, payload)`."""
        self.kernel_relayed = False
        """The kernel forwards this bridged leg's packets (kernel_bridges.py): the pacer
        leaves it alone and our RTCP is silent (the phones' own RTCP passes through)."""
        self.thinned = 0
        """While nobody hears this leg's audio: the one audio packet in `thinned` its
        socket's filter lets through (thinning.py); 0: every packet."""
        self._unthinned = False

    @property
    def remote(self) -> Address | None:
        """Where our media goes (once sending is allowed): the latched source, else the SDP's."""
        return self.peer.latched or self.peer.sdp

    # -- setup ------------------------------------------------------------------------------

    def configure(self, negotiated: Negotiated) -> None:
        """Apply an offer/answer (the answer, or a re-offer): codec, digits, the SDP address
        (latching starts over)."""
        payload_types = {int(negotiated.codec)}
        if negotiated.dtmf_payload_type is not None:
            payload_types.add(negotiated.dtmf_payload_type)
        self.peer.expect(
            (negotiated.remote_address, negotiated.remote_port), frozenset(payload_types)
        )
        if negotiated.codec is not self.codec or self.stream.payload_type != int(negotiated.codec):
            old = self.codec
            self.codec = negotiated.codec
            self.stream.payload_type = int(negotiated.codec)
            if self.playback is not None:  # rendered for the old codec: re-encode the rest
                self.playback = self._encoded(self.playback)
            if self.relay:
                self.relay = bytearray(transcode(bytes(self.relay), old, self.codec))
        self.dtmf.payload_type = negotiated.dtmf_payload_type
        self.rtcp_reports.configure(negotiated)
        if negotiated.dtmf_payload_type is not None or not self.listens_for_keys:
            self.inband = None
        elif self.inband is None:
            self.inband = DtmfDetector()  # keys can only come as tones in the audio (or INFO)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def close(self) -> None:
        self.rtcp_reports.stop()  # its last report (BYE) leaves first
        self.sending = False
        self.playback = None
        self.bridge = None
        self.sock = None  # the transport closes it
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    # -- receiving ----------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        source = (str(addr[0]), int(addr[1]))
        if is_rtcp(data):  # rtcp-mux (RFC 5761 §4); SRTCP is not read (rtcp_io.py)
            if self.srtp is None:
                self.rtcp_reports.received(data, source)
            return
        if self.srtp is not None:
            # Authenticated first: a forged or replayed packet neither plays nor latches.
            plain = self.srtp.unprotect(data)
            if plain is None:
                self.ignored_sources += 1
                return
            data = plain
        packet = parse_rtp(data)
        now = time.monotonic()
        if packet is None or not self.peer.accept(source, packet, len(data), now):
            self.ignored_sources += 1  # not the peer's media: never trusted, never answered
            return
        if self.thinned and packet.payload_type in _CODECS:
            # The filter let one audio packet in `thinned` through: it stands for them all
            # (the watchdog, the latch, RTCP's counts: the gaps are not losses); nobody
            # hears it.
            self.packets_received += self.thinned
            self.last_received = now
            self.rtcp_reports.state.received(
                packet.ssrc, packet.sequence, packet.timestamp, now, gap_unheard=True
            )
            return
        self.packets_received += 1
        self.last_received = now
        self.rtcp_reports.state.received(
            packet.ssrc, packet.sequence, packet.timestamp, now, gap_unheard=self._unthinned
        )
        self._unthinned = False
        digit = self.dtmf.receive(packet, now)
        if digit is not None:
            self.listener.on_digit(self, digit, DigitMethod.RFC4733)
            return
        if self.taps and packet.payload_type in _CODECS:
            for tap in tuple(self.taps):
                tap(packet.payload_type, packet.payload)
        bridge = self.bridge
        if self.inband is not None and bridge is None:
            self._detect_tones(packet.payload_type, packet.payload)
        if bridge is None or packet.payload_type not in _CODECS:
            return  # comfort noise
        xcoder = self.to_bridge
        if xcoder is None or xcoder.source != packet.payload_type or xcoder.target != bridge.codec:
            xcoder = self.to_bridge = Transcoder(Codec(packet.payload_type), bridge.codec)
        bridge.relay += xcoder(packet.payload)
        if len(bridge.relay) > _RELAY_MAX:
            del bridge.relay[: len(bridge.relay) - _RELAY_MAX]

    def thin(self, keep_one_in: int) -> None:
        """Let the kernel drop all but one audio packet in `keep_one_in` (0: none): for a leg
        nobody hears (`thinning.py`; the worker decides)."""
        sock = self.sock
        if sock is None or keep_one_in == self.thinned:
            return
        if keep_one_in:
            thinning.thin(sock, keep_one_in)
        else:
            thinning.unthin(sock)
            # What the filter dropped before the next packet is not loss either.
            self._unthinned = True
        self.thinned = keep_one_in

    def rtp_timestamp(self) -> int:
        return self.stream.timestamp

    def rtcp_allowed(self) -> bool:
        """Plain RTCP only on plain RTP legs (we do not implement SRTCP, RFC 3711 §3.4), and
        not while the kernel relays the leg (we send no stream of our own to report on)."""
        return self.srtp is None and not self.kernel_relayed

    def _detect_tones(self, payload_type: int, payload: bytes) -> None:
        detector = self.inband
        assert detector is not None
        if payload_type == Codec.PCMU:
            keys = detector.feed_ulaw(payload)
        elif payload_type == Codec.PCMA:
            keys = detector.feed_alaw(payload)
        elif payload_type == Codec.G722:  # decoded (own state) to µ-law for the detector
            if self._tones_g722 is None:
                self._tones_g722 = Transcoder(Codec.G722, Codec.PCMU)
            keys = detector.feed_ulaw(self._tones_g722(payload))
        else:
            return  # comfort noise: no audio to listen to
        for key in keys:
            self.listener.on_digit(self, DtmfDigit(key), DigitMethod.INBAND)

    def connect_peer(self) -> Address | None:
        """Connect the socket to the peer once the peer has sent from its address, so the
        kernel reports ICMP port unreachable to us (watchdog.py); where it is connected
        (None: not yet, or the connect failed)."""
        remote, transport = self.remote, self.transport
        if remote is None or transport is None or not self.packets_received:
            return None
        sock = transport.get_extra_info("socket")
        if sock is None:
            return None
        try:
            # A duplicate descriptor of the same socket: connecting it connects the socket
            # asyncio reads (its own wrapper refuses connect()).
            with socket.fromfd(sock.fileno(), sock.family, sock.type) as same:
                same.connect(remote)
        except OSError as exc:
            log.debug("RTP socket %s: cannot connect to %s: %s", self.port, remote, exc)
            return None
        self.connected = remote
        return remote

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket %s: %s", self.port, exc)  # e.g. ICMP port unreachable
        if isinstance(exc, ConnectionRefusedError):  # the peer's port is closed (watchdog.py)
            now = time.monotonic()
            if self.refused_since is None or self.last_received > self.refused_since:
                self.refused_since = now
            self.refused_last = now

    # -- sending -------------------------------------------------------------------------------

    def play(self, playback: Playback | None) -> None:
        self.playback = None if playback is None else self._encoded(playback)

    def _encoded(self, playback: Playback) -> Playback:
        """`playback` in this session's codec: it is re-encoded after a codec change (a
        re-INVITE from PCMU to PCMA, a late answer), never sent under the wrong label."""
        if playback.codec is None or playback.codec is self.codec:
            playback.codec = self.codec
            return playback
        playback.audio = transcode(playback.audio, playback.codec, self.codec)  # all: it may loop
        playback.codec = self.codec
        return playback

    def next_frame(self) -> bytes:
        """The next 20 ms of what this leg should hear."""
        if self.bridge is not None:
            if len(self.relay) >= FRAME_SAMPLES:
                frame = bytes(self.relay[:FRAME_SAMPLES])
                del self.relay[:FRAME_SAMPLES]
                return frame
            return _SILENCE[self.codec]
        playback = self.playback
        if playback is None:
            return _SILENCE[self.codec]
        audio = playback.audio
        start = playback.position
        frame = audio[start : start + FRAME_SAMPLES]
        playback.position = start + FRAME_SAMPLES
        if len(frame) < FRAME_SAMPLES:
            if playback.loop and audio:
                playback.position = FRAME_SAMPLES - len(frame)
                frame += audio[: playback.position]
                frame += _SILENCE[self.codec][: FRAME_SAMPLES - len(frame)]
            else:
                frame += _SILENCE[self.codec][: FRAME_SAMPLES - len(frame)]
        if not playback.loop and playback.position >= len(audio):
            self.playback = None
            self._finished = playback  # reported once this last frame is on the wire
        return frame

    def send_frame(self) -> bool:
        transport = self.transport
        if transport is None or not self.sending:
            return False
        remote = self.peer.destination(_PACKET_BYTES)
        if remote is None:
            return False  # not proven yet: nothing is sent, and playback waits
        packet = self.stream.packet(self.next_frame(), marker=self.first_packet)
        if self.srtp is not None:
            packet = self.srtp.protect(packet)
        self.first_packet = False
        sock = self.sock
        if sock is not None:
            # Straight to our own non-blocking socket: asyncio's transport adds ~1.4 µs
            # per packet (a quarter of the cost), and a media frame that cannot leave now
            # is dropped, never queued behind its successors.
            try:
                if remote == self.connected:
                    sock.send(packet)
                else:  # a connected UDP socket may still send elsewhere (Linux)
                    sock.sendto(packet, remote)
            except (BlockingIOError, InterruptedError):
                self.dropped += 1
            except OSError as exc:
                self.dropped += 1
                self.error_received(exc)
        else:
            transport.sendto(packet, remote)
        self.packets_sent += 1
        self.rtcp_reports.state.sent(len(packet) - 12)
        finished, self._finished = self._finished, None
        if finished is not None:
            self.listener.on_playback_done(self, finished)
        return True


class JitterStats:
    """How far sent packets were off their deadlines (late, or early): a histogram of
    0.1 ms bins up to 100 ms (constant memory at any packet rate), percentiles read from it.
    `MediaClock` fills `counts` and `count` itself, inline: it runs for every packet sent."""

    BIN_S = 0.0001
    BINS = 1001  # the last bin collects everything later than 100 ms

    def __init__(self) -> None:
        self.counts = array("q", bytes(8 * self.BINS))
        self.count = 0

    def percentile(self, q: float) -> float:
        """Upper edge of the bin holding the q-th percentile, in seconds (0 when empty)."""
        if not self.count:
            return 0.0
        rank = q / 100 * self.count
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if n and seen >= rank:
                return (index + 1) * self.BIN_S
        return self.BINS * self.BIN_S

    def reset(self) -> None:
        self.counts = array("q", bytes(8 * self.BINS))
        self.count = 0


class MediaClock:
    """Paces every RTP session of a server on one absolute-deadline grid."""

    observer: Callable[[float], None] | None = None
    """Told each packet's offset from its deadline (bench/stall_profile.py); None in service."""

    def __init__(self) -> None:
        self.sessions: list[set[RtpSession]] = [set() for _ in range(SLOTS)]
        self.jitter = JitterStats()
        self._task: asyncio.Task[None] | None = None
        self._next_slot = 0
        self.resyncs = 0
        self._woken: asyncio.Event | None = None

    def add(self, session: RtpSession) -> None:
        session.slot = self._next_slot
        self._next_slot = (self._next_slot + 1) % SLOTS
        self.sessions[session.slot].add(session)
        if self._woken is not None:
            self._woken.set()

    def remove(self, session: RtpSession) -> None:
        self.sessions[session.slot].discard(session)

    def start(self) -> None:
        if self._task is None:
            self._woken = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="rtp-clock")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        # The system's monotonic clock, read at each packet: not `loop.time()`, which
        # under uvloop is libuv's millisecond clock cached once per loop turn (it would
        # hide the time a tick's sends take, and round lateness to whole milliseconds).
        clock: Callable[[], float] = time.monotonic
        bins_per_s = round(1 / JitterStats.BIN_S)
        observer = self.observer
        deadline = clock()
        tick = 0
        while True:
            if not any(self.sessions):  # idle: no 500 wake-ups a second for nothing
                await self._idle()
                deadline = clock()
            deadline += TICK_S
            tick += 1
            delay = deadline - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.2:  # stalled (suspended process): resynchronise, do not burst
                self.resyncs += 1
                deadline = clock()
            counts, last_bin = self.jitter.counts, JitterStats.BINS - 1
            sent = 0
            for session in list(self.sessions[tick % SLOTS]):
                try:
                    if session.send_frame():
                        # JitterStats.add, inline: this runs for every packet sent. Early
                        # counts as much as late (uvloop's millisecond timers wake early).
                        offset = clock() - deadline
                        off = int(abs(offset) * bins_per_s)
                        counts[off if off < last_bin else last_bin] += 1
                        sent += 1
                        if observer is not None:
                            observer(offset)
                except Exception:  # one broken leg must not stop everybody's audio
                    log.exception("RTP send failed on port %s", session.port)
                    self.remove(session)
            self.jitter.count += sent

    async def _idle(self) -> None:
        """Wait until a session is paced."""
        woken = self._woken
        assert woken is not None
        woken.clear()
        if not any(self.sessions):
            await woken.wait()


class PortAllocator:
    """Even RTP ports from the configured range (RFC 3550 §11), reused after release."""

    def __init__(self, low: int, high: int) -> None:
        first = low + (low % 2)
        self._free = list(range(first, high, 2))
        self._free.reverse()

    def allocate(self) -> int | None:
        return self._free.pop() if self._free else None

    def release(self, port: int) -> None:
        self._free.insert(0, port)


async def open_session(
    host: str,
    allocator: PortAllocator,
    listener: SessionListener,
    *,
    ledger: Ledger,
    latch_window_s: float,
    signalling_ip: str | None = None,
) -> RtpSession | None:
    """Bind a session on the first free port of the range (skipping ports others hold).
    `signalling_ip`: where the leg's SIP comes from (a latching hint, see `latch.py`)."""
    loop = asyncio.get_running_loop()
    failed: list[str] = []
    for _ in range(64):
        port = allocator.allocate()
        if port is None:
            log.warning("no RTP port left in the configured range (%d taken by others: %s)",
                        len(failed), ", ".join(failed[-3:]))  # fmt: skip
            return None
        peer = MediaPeer(ledger, window_s=latch_window_s, signalling_ip=signalling_ip)
        session = RtpSession(port=port, listener=listener, peer=peer, host=host)
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            failed.append(f"{port}: {exc.strerror or exc}")
            continue  # taken by another process: skip it, do not release it back
        sock.setblocking(False)
        await loop.create_datagram_endpoint(_returning(session), sock=sock)
        session.sock = sock
        await session.rtcp_reports.open(host, port + 1)  # RFC 3550 §11: RTP port + 1
        return session
    log.warning("no RTP port could be bound on %s: %s", host, ", ".join(failed[-3:]))
    return None


def _returning(session: RtpSession) -> Callable[[], RtpSession]:
    """The protocol factory for one session (a lambda in the loop would bind late)."""
    return lambda: session
