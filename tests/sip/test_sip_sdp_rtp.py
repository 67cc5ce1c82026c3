"""SDP offer/answer and RTP/RFC 4733 packet handling."""

from __future__ import annotations

import struct

import pytest

from dipflow.channels.sip.rtp import DtmfDigit, DtmfReceiver, RtpStream, parse_rtp
from dipflow.channels.sip.sdp import Codec, Direction, SdpError, build_sdp, negotiate, parse_sdp
from tests.sip.sip_helpers import OFFER


def test_offer_parsed_and_answered_in_offerer_preference() -> None:
    offer = parse_sdp(OFFER.encode())
    assert (offer.address, offer.port) == ("127.0.0.1", 6000)
    chosen = negotiate(offer)
    assert chosen is not None
    assert chosen.codec is Codec.PCMU
    assert chosen.dtmf_payload_type == 101
    alaw_first = OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 8 0 101")
    chosen = negotiate(parse_sdp(alaw_first.encode()))
    assert chosen is not None
    assert chosen.codec is Codec.PCMA


def test_nothing_servable_means_no_answer() -> None:
    opus_only = OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 96").replace(
        "a=rtpmap:0 PCMU/8000", "a=rtpmap:96 opus/48000/2"
    )
    assert negotiate(parse_sdp(opus_only.encode())) is None
    assert negotiate(parse_sdp(OFFER.replace("audio 6000", "audio 0").encode())) is None
    assert negotiate(parse_sdp(OFFER.encode()), supported=(Codec.PCMA,)) is not None


@pytest.mark.parametrize(
    "body",
    [b"", b"v=0\r\n", b"\xff\xfe", OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 evil").encode()],
)
def test_bad_sdp_raises_sdp_error(body: bytes) -> None:
    with pytest.raises(SdpError):
        parse_sdp(body)


def test_hold_offer_is_detected() -> None:
    hold = parse_sdp(OFFER.replace("a=sendrecv", "a=sendonly").encode())
    assert hold.is_hold
    chosen = negotiate(hold)
    assert chosen is not None
    assert chosen.direction is Direction.RECVONLY


def test_answer_round_trips() -> None:
    answer = build_sdp(session_id=1, version=1, address="127.0.0.1", port=20000,
                       codecs=(Codec.PCMA,), dtmf_payload_type=101)  # fmt: skip
    parsed = parse_sdp(answer)
    assert parsed.port == 20000
    assert parsed.payload_types == (8, 101)
    assert parsed.rtpmap[101] == "telephone-event/8000"


def test_rtp_stream_numbers_packets() -> None:
    stream = RtpStream(payload_type=0)
    first = parse_rtp(stream.packet(b"\xff" * 160, marker=True))
    second = parse_rtp(stream.packet(b"\xff" * 160))
    assert first is not None and second is not None
    assert first.marker and not second.marker
    assert second.sequence == (first.sequence + 1) & 0xFFFF
    assert second.timestamp == (first.timestamp + 160) & 0xFFFFFFFF
    assert second.ssrc == first.ssrc
    assert len(second.payload) == 160


def test_non_rtp_is_ignored() -> None:
    assert parse_rtp(b"") is None
    assert parse_rtp(b"\x00" * 20) is None  # version 0
    assert parse_rtp(bytes([0x80, 200]) + b"\x00" * 30) is None  # RTCP SR


def _event(ts: int, event: int, end: bool, duration: int, seq: int) -> bytes:
    header = struct.pack("!BBHII", 0x80, 101, seq, ts, 1234)
    return header + struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)


def test_dtmf_reported_once_per_event_despite_retransmitted_end_packets() -> None:
    receiver = DtmfReceiver(101)
    digits = []
    packets = [_event(1000, 1, False, d, i) for i, d in enumerate((160, 320, 480))]
    packets += [_event(1000, 1, True, 640, 3 + i) for i in range(3)]  # end x3 (RFC 4733 §2.5.1.4)
    packets += [_event(5000, 2, False, 160, 10), _event(5000, 2, True, 320, 11)]
    packets += [_event(9000, 11, True, 320, 12)]  # only the end packets arrived: still a digit
    for i, data in enumerate(packets):
        packet = parse_rtp(data)
        assert packet is not None
        digit = receiver.receive(packet, now=i * 0.05)
        if digit is not None:
            digits.append(digit)
    assert digits == [DtmfDigit.D1, DtmfDigit.D2, DtmfDigit.POUND]


def test_sipp_dtmf_pcap_payload_decodes_to_its_digit() -> None:
    # The first packet of /usr/share/sip-tester/dtmf_2833_1.pcap (RTP header + event).
    data = bytes.fromhex("80e51f30000033e00e05384e010a0000")
    packet = parse_rtp(data)
    assert packet is not None
    assert DtmfReceiver(101).receive(packet) is DtmfDigit.D1


def test_same_event_replayed_later_is_a_new_key_press() -> None:
    receiver = DtmfReceiver(101)
    packet = parse_rtp(_event(1000, 5, True, 640, 1))
    assert packet is not None
    assert receiver.receive(packet, now=0.0) is DtmfDigit.D5
    assert receiver.receive(packet, now=0.04) is None  # redundant end packet
    assert receiver.receive(packet, now=3.0) is DtmfDigit.D5  # pressed again (canned replay)
