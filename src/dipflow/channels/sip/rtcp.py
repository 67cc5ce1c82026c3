"""RTCP (RFC 3550 §6), sans-IO: sender and receiver reports, their arithmetic, and each
leg's quality. Layer 4 (channels).

Every RTP leg keeps an `RtcpState`: what we sent (the sender info of our SRs), what we
receive from the peer's SSRC (sequence tracking of A.1, loss of A.3, interarrival jitter
of A.8), and what the peer reports about our stream in its reports (loss, jitter, and
the round-trip time from LSR/DLSR, §6.4.1). `report()` builds our compound packet
(SR when we sent since the last report, else RR; always SDES CNAME, §6.1); `receive()`
reads the peer's. No clock is read here: wall time (for NTP timestamps) and arrival
times are arguments.

All our codecs use an 8000 Hz RTP clock (G.722 too, RFC 3551 §4.5.2), so timestamp
units are 1/8000 s.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

from dipflow.channels.seam import MediaQuality

RTP_CLOCK: Final = 8000
NTP_OFFSET: Final = 2_208_988_800
"""Seconds from 1900-01-01 (NTP's epoch) to 1970-01-01 (Unix's)."""

SR: Final = 200
RR: Final = 201
SDES: Final = 202
BYE: Final = 203

MAX_DROPOUT: Final = 3000
MAX_MISORDER: Final = 100
MIN_SEQUENTIAL: Final = 2
RTP_SEQ_MOD: Final = 1 << 16

_HEADER = struct.Struct("!BBHI")
_SENDER_INFO = struct.Struct("!IIIII")
_BLOCK = struct.Struct("!IIIIII")


def is_rtcp(data: bytes) -> bool:
    """An RTCP packet sharing the RTP port (RFC 5761 §4: packet types 192-223)."""
    return len(data) >= 8 and data[0] >> 6 == 2 and 192 <= data[1] <= 223


def ntp_timestamp(wall: float) -> tuple[int, int]:
    """NTP seconds and fraction for a Unix time."""
    seconds = int(wall) + NTP_OFFSET
    fraction = int((wall - int(wall)) * (1 << 32)) & 0xFFFFFFFF
    return seconds & 0xFFFFFFFF, fraction


def ntp_middle(wall: float) -> int:
    """The middle 32 bits of the NTP timestamp (LSR's unit: 1/65536 s, §6.4.1)."""
    seconds, fraction = ntp_timestamp(wall)
    return ((seconds & 0xFFFF) << 16) | (fraction >> 16)


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderInfo:
    ntp_seconds: int
    ntp_fraction: int
    rtp_timestamp: int
    packets: int
    octets: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportBlock:
    """One reception report block (§6.4.1), about source `ssrc`."""

    ssrc: int
    fraction_lost: int
    """Lost since the previous report, in 1/256."""
    cumulative_lost: int
    highest_seq: int
    """Extended: cycles << 16 | highest sequence number."""
    jitter: int
    """Interarrival jitter, RTP timestamp units."""
    lsr: int
    dlsr: int
    """Delay since that SR, 1/65536 s."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """An SR (with `sender`) or an RR from `ssrc`, and whether the packet said BYE."""

    ssrc: int
    sender: SenderInfo | None
    blocks: tuple[ReportBlock, ...]
    bye: bool = False


def _pad(chunk: bytes) -> bytes:
    return chunk + b"\x00" * (-len(chunk) % 4)


def build_compound(
    *,
    ssrc: int,
    sender: SenderInfo | None,
    blocks: tuple[ReportBlock, ...],
    cname: str,
    bye: bool = False,
) -> bytes:
    """SR or RR, SDES with CNAME (§6.1: every compound packet has both), and BYE if asked."""
    body = struct.pack("!I", ssrc)
    if sender is not None:
        body += _SENDER_INFO.pack(
            sender.ntp_seconds, sender.ntp_fraction, sender.rtp_timestamp & 0xFFFFFFFF,
            sender.packets & 0xFFFFFFFF, sender.octets & 0xFFFFFFFF,
        )  # fmt: skip
    for b in blocks[:31]:
        lost = max(-(1 << 23), min((1 << 23) - 1, b.cumulative_lost)) & 0xFFFFFF
        body += _BLOCK.pack(
            b.ssrc, (b.fraction_lost << 24) | lost, b.highest_seq & 0xFFFFFFFF,
            b.jitter & 0xFFFFFFFF, b.lsr, b.dlsr,
        )  # fmt: skip
    kind = SR if sender is not None else RR
    packet = struct.pack("!BBH", 0x80 | min(len(blocks), 31), kind, len(body) // 4) + body
    name = cname.encode()[:255]
    sdes = _pad(struct.pack("!I", ssrc) + bytes([1, len(name)]) + name + b"\x00")
    packet += struct.pack("!BBH", 0x81, SDES, len(sdes) // 4) + sdes
    if bye:
        packet += struct.pack("!BBHI", 0x81, BYE, 1, ssrc)
    return packet


def parse_compound(data: bytes) -> list[Report]:
    """The SRs and RRs of a compound packet (SDES and APP are skipped; a BYE marks the
    reports of its packet). Malformed input gives what was read before it."""
    reports: list[Report] = []
    bye = False
    offset = 0
    while offset + 4 <= len(data):
        first, kind, words = struct.unpack_from("!BBH", data, offset)
        end = offset + 4 * (words + 1)
        if first >> 6 != 2 or end > len(data):
            break
        count = first & 0x1F
        if kind in (SR, RR) and end - offset >= 8:
            (ssrc,) = struct.unpack_from("!I", data, offset + 4)
            cursor = offset + 8
            sender = None
            if kind == SR:
                if cursor + _SENDER_INFO.size > end:
                    break
                seconds, fraction, timestamp, packets, octets = _SENDER_INFO.unpack_from(
                    data, cursor
                )
                sender = SenderInfo(
                    ntp_seconds=seconds, ntp_fraction=fraction, rtp_timestamp=timestamp,
                    packets=packets, octets=octets,
                )  # fmt: skip
                cursor += _SENDER_INFO.size
            blocks = []
            for _ in range(count):
                if cursor + _BLOCK.size > end:
                    break
                source, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, cursor)
                cumulative = lost & 0xFFFFFF
                if cumulative & 0x800000:  # 24-bit signed (duplicates can make it negative)
                    cumulative -= 1 << 24
                blocks.append(
                    ReportBlock(
                        ssrc=source,
                        fraction_lost=lost >> 24,
                        cumulative_lost=cumulative,
                        highest_seq=highest,
                        jitter=jitter,
                        lsr=lsr,
                        dlsr=dlsr,
                    )
                )
                cursor += _BLOCK.size
            reports.append(Report(ssrc=ssrc, sender=sender, blocks=tuple(blocks)))
        elif kind == BYE:
            bye = True
        offset = end
    if bye:
        reports = [Report(ssrc=r.ssrc, sender=r.sender, blocks=r.blocks, bye=True) for r in reports]
    return reports


@dataclass(slots=True)
class SourceStats:
    """Reception statistics of one source (RFC 3550 A.1, A.3, A.8)."""

    ssrc: int
    max_seq: int = 0
    cycles: int = 0
    base_seq: int = 0
    bad_seq: int = RTP_SEQ_MOD + 1
    probation: int = MIN_SEQUENTIAL
    received: int = 0
    expected_prior: int = 0
    received_prior: int = 0
    transit: int | None = None
    jitter: float = 0.0
    """Interarrival jitter, RTP timestamp units (A.8: J += (|D| - J) / 16)."""

    @classmethod
    def first(cls, ssrc: int, seq: int) -> SourceStats:
        stats = cls(ssrc=ssrc)
        stats._init_seq(seq)
        stats.max_seq = (seq - 1) % RTP_SEQ_MOD  # A.1: the first packet starts the probation
        return stats

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update_seq(self, seq: int) -> bool:
        """A.1: whether the packet counts (a source in probation or a jump may not)."""
        udelta = (seq - self.max_seq) % RTP_SEQ_MOD
        if self.probation:
            if seq == (self.max_seq + 1) % RTP_SEQ_MOD:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD  # wrapped
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq == self.bad_seq:  # two sequential packets: the source restarted
                self._init_seq(seq)
            else:
                self.bad_seq = (seq + 1) % RTP_SEQ_MOD
                return False
        # else: a duplicate or reordered packet, counted
        self.received += 1
        return True

    def update_jitter(self, rtp_timestamp: int, arrival: float) -> None:
        """A.8, with the arrival time in RTP units."""
        transit = int(arrival * RTP_CLOCK) - rtp_timestamp
        if self.transit is not None:
            d = abs(transit - self.transit)
            if d < 1 << 31:  # a timestamp jump (new talkspurt base) is not jitter
                self.jitter += (d - self.jitter) / 16
        self.transit = transit

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        """A.3: packets expected since the first."""
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        return self.expected - self.received

    def interval(self) -> tuple[int, int]:
        """A.3: (fraction lost in 1/256, cumulative lost) since the previous call."""
        expected = self.expected
        expected_interval = expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior = expected
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = (lost_interval << 8) // expected_interval
        return min(fraction, 255), self.lost


@dataclass(slots=True, kw_only=True)
class RtcpState:
    """One RTP leg's RTCP: our counters, the peer's stream, the peer's view of ours."""

    ssrc: int
    cname: str
    packets_sent: int = 0
    octets_sent: int = 0
    sent_since_report: bool = False
    source: SourceStats | None = None
    last_sr_middle: int = 0
    """LSR for our next block: the middle of the NTP time of the peer's last SR."""
    last_sr_at: float = 0.0
    reports_received: int = 0
    peer_fraction_lost: float | None = None
    peer_cumulative_lost: int | None = None
    peer_jitter_s: float | None = None
    rtt_s: float | None = None
    rtt_samples: list[float] = field(default_factory=list)

    # -- what happens on the RTP side --

    def sent(self, payload_bytes: int) -> None:
        """One RTP packet sent (on the pacer's path: counting only)."""
        self.packets_sent += 1
        self.octets_sent += payload_bytes
        self.sent_since_report = True

    def received(
        self, ssrc: int, seq: int, rtp_timestamp: int, arrival: float, *, gap_unheard: bool = False
    ) -> None:
        """One RTP packet received. `gap_unheard`: the packets between the last one counted
        and this one were dropped on purpose (thinning.py), not lost: they count as
        received, so the loss figures stay what they were."""
        source = self.source
        if source is None or source.ssrc != ssrc:
            source = self.source = SourceStats.first(ssrc, seq)  # a new source starts over
        lost_before = source.lost
        if source.update_seq(seq):
            source.update_jitter(rtp_timestamp, arrival)
            if gap_unheard:
                source.received = source.expected - lost_before

    # -- RTCP --

    def report(self, *, wall: float, now: float, rtp_now: int = 0, bye: bool = False) -> bytes:
        """Our compound packet at wall time `wall` (monotonic `now`); `rtp_now`: the RTP
        timestamp of our next packet (within a packet time of `wall`: enough for an SR,
        whose timestamp only serves lip sync, §6.4.1)."""
        sender = None
        if self.sent_since_report:
            seconds, fraction = ntp_timestamp(wall)
            sender = SenderInfo(
                ntp_seconds=seconds, ntp_fraction=fraction, rtp_timestamp=rtp_now,
                packets=self.packets_sent, octets=self.octets_sent,
            )  # fmt: skip
            self.sent_since_report = False
        blocks: tuple[ReportBlock, ...] = ()
        source = self.source
        if source is not None and source.received:
            fraction, cumulative = source.interval()
            dlsr = int((now - self.last_sr_at) * 65536) if self.last_sr_middle else 0
            blocks = (
                ReportBlock(
                    ssrc=source.ssrc, fraction_lost=fraction, cumulative_lost=cumulative,
                    highest_seq=source.extended_max, jitter=int(source.jitter),
                    lsr=self.last_sr_middle, dlsr=dlsr,
                ),
            )  # fmt: skip
        return build_compound(
            ssrc=self.ssrc, sender=sender, blocks=blocks, cname=self.cname, bye=bye
        )

    def receive(self, data: bytes, *, wall: float, now: float) -> bool:
        """Read the peer's compound packet; False when it held no report."""
        reports = parse_compound(data)
        for report in reports:
            self.reports_received += 1
            if report.sender is not None:
                s = report.sender
                self.last_sr_middle = ((s.ntp_seconds & 0xFFFF) << 16) | (s.ntp_fraction >> 16)
                self.last_sr_at = now
            for block in report.blocks:
                if block.ssrc != self.ssrc:
                    continue  # about another stream (a conference): not ours
                self.peer_fraction_lost = block.fraction_lost / 256
                self.peer_cumulative_lost = block.cumulative_lost
                self.peer_jitter_s = block.jitter / RTP_CLOCK
                if block.lsr:  # §6.4.1: RTT = A - LSR - DLSR
                    rtt = ((ntp_middle(wall) - block.lsr - block.dlsr) & 0xFFFFFFFF) / 65536
                    if rtt < 60:  # a wrapped or bogus value is not a round trip
                        self.rtt_s = rtt
                        self.rtt_samples.append(rtt)
                        del self.rtt_samples[:-32]
        return bool(reports)

    def quality(self, leg: str) -> MediaQuality:
        """This leg's numbers for the trace, the supervisor view and the metrics."""
        source = self.source
        expected = source.expected if source is not None else 0
        lost = max(0, source.lost) if source is not None else 0
        return MediaQuality(
            leg=leg,
            packets_sent=self.packets_sent,
            packets_received=source.received if source is not None else 0,
            packets_lost=lost,
            loss_fraction=round(lost / expected, 4) if expected > 0 else 0.0,
            jitter_ms=round((source.jitter if source else 0.0) / RTP_CLOCK * 1000, 2),
            peer_loss_fraction=self.peer_fraction_lost,
            peer_jitter_ms=None
            if self.peer_jitter_s is None
            else round(self.peer_jitter_s * 1000, 2),
            rtt_ms=None if self.rtt_s is None else round(self.rtt_s * 1000, 2),
            rtcp_reports_received=self.reports_received,
        )
