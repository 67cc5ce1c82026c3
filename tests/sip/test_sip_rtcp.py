"""RTCP arithmetic against RFC 3550: sequence tracking and loss (A.1, A.3), interarrival
jitter (A.8), round-trip time from LSR/DLSR (§6.4.1), and the wire format of SR/RR/SDES
read back by our parser and built from the RFC's layout."""

from __future__ import annotations

import struct

from dipflow.channels.sip.rtcp import (
    RR,
    SR,
    RtcpState,
    SourceStats,
    build_compound,
    is_rtcp,
    ntp_middle,
    parse_compound,
)


def feed(stats: RtcpState, seqs: list[int], *, ts_step: int = 160, spacing: float = 0.02) -> None:
    for i, seq in enumerate(seqs):
        stats.received(0xABCD, seq % 65536, 1000 + ts_step * (seq - seqs[0]), 10.0 + i * spacing)


def test_loss_per_interval_and_cumulative_a3() -> None:
    state = RtcpState(ssrc=1, cname="dipflow@test")
    # 100 packets from seq 65500 (it wraps), 10 of them lost: 65510..65519.
    seqs = [65500 + i for i in range(100) if not 10 <= i < 20]
    feed(state, seqs)
    source = state.source
    assert source is not None
    # A.1: the first packet only starts the probation; counting starts at the second.
    assert source.expected == 99 and source.received == 89 and source.lost == 10
    assert source.extended_max == 65536 + (65500 + 99) % 65536  # one wrap counted
    fraction, cumulative = source.interval()
    assert cumulative == 10
    assert fraction == (10 << 8) // 99  # 25: "fraction lost" in 1/256 (A.3)
    feed_more = [65600 + i for i in range(50)]  # the next interval: no loss
    for i, seq in enumerate(feed_more):
        state.received(0xABCD, seq % 65536, 0, 20.0 + i * 0.02)
    assert source.interval() == (0, 10)


def test_duplicates_do_not_count_as_gains_beyond_zero_fraction() -> None:
    state = RtcpState(ssrc=1, cname="c")
    feed(state, [1, 2, 3, 3, 3, 4])
    source = state.source
    assert source is not None
    assert source.interval()[0] == 0  # A.3: more received than expected is no loss


def test_jitter_a8_constant_spacing_is_zero_and_alternating_delay_converges() -> None:
    steady = SourceStats.first(7, 100)
    for i in range(200):
        steady.update_seq(100 + i)
        steady.update_jitter(160 * i, 5.0 + 0.02 * i)
    assert steady.jitter < 1  # no variation in transit time
    wobbly = SourceStats.first(7, 100)
    for i in range(2000):
        wobbly.update_seq(100 + i)
        late = 0.01 if i % 2 else 0.0  # every other packet 10 ms late: |D| = 80 units
        wobbly.update_jitter(160 * i, 5.0 + 0.02 * i + late)
    # J converges to the mean |D| (A.8: J += (|D| - J) / 16): 80 units = 10 ms at 8 kHz.
    assert 78 <= wobbly.jitter <= 81


def test_round_trip_time_from_lsr_and_dlsr() -> None:
    ours = RtcpState(ssrc=0x1111, cname="dipflow")
    ours.sent(160)
    sr = ours.report(wall=1_700_000_000.25, now=1.0, rtp_now=5160)
    (parsed,) = parse_compound(sr)
    assert parsed.sender is not None and parsed.sender.packets == 1
    # The peer got our SR, held it 0.5 s, and reports (LSR = its NTP middle, DLSR = 0.5 s);
    # we read that RR 0.58 s after sending the SR: RTT = 0.58 - 0.5 = 80 ms.
    lsr = ntp_middle(1_700_000_000.25)
    block = struct.pack("!IIIIII", 0x1111, 0, 100, 40, lsr, 32768)
    rr = struct.pack("!BBHI", 0x81, RR, 7, 0x2222) + block
    assert ours.receive(rr, wall=1_700_000_000.83, now=1.58)
    assert ours.rtt_s is not None and abs(ours.rtt_s - 0.08) < 0.001
    assert ours.peer_jitter_s == 40 / 8000


def test_reports_are_rfc_3550_compound_packets() -> None:
    peer = RtcpState(ssrc=0x2222, cname="peer")
    feed(peer, list(range(10, 60)))
    packet = peer.report(wall=1_700_000_000.0, now=11.0)
    assert is_rtcp(packet)
    # RR first (no data sent), then SDES with the CNAME, 32-bit aligned (§6.1, §6.5).
    assert packet[1] == RR and packet[0] & 0x1F == 1
    length = (struct.unpack_from("!H", packet, 2)[0] + 1) * 4
    assert length == 8 + 24
    assert packet[length + 1] == 202 and b"peer" in packet[length:]
    assert len(packet) % 4 == 0
    (report,) = parse_compound(packet)
    (block,) = report.blocks
    assert block.ssrc == 0xABCD and block.cumulative_lost == 0
    with_bye = build_compound(ssrc=5, sender=None, blocks=(), cname="x", bye=True)
    assert parse_compound(with_bye)[0].bye
    assert SR == 200  # an SR is sent once we sent media (see the round-trip test)
