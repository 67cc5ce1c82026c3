"""Fuzzing: hostile bytes never raise out of the parser, the framer, SDP/RTP or the agent,
and the agent's state stays bounded."""

from __future__ import annotations

import contextlib
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dipflow.channels.sip.agent import SipUserAgent
from dipflow.channels.sip.events import IncomingCall
from dipflow.channels.sip.message import SipParseError, StreamFramer, parse_message
from dipflow.channels.sip.rtp import DtmfReceiver, parse_rtp
from dipflow.channels.sip.sdp import SdpError, negotiate, parse_sdp
from dipflow.channels.sip.settings import SipSettings
from tests.sip.sip_helpers import OFFER, cancel, in_dialog, invite

RESPONSE = (
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
    b"Contact: <sip:c@127.0.0.1:5999>\r\nContent-Length: 0\r\n\r\n"
)
CORPUS = [
    invite(),
    invite(extra="P-Asserted-Identity: <sip:+1@x>\r\nRecord-Route: <sip:p;lr>, <sip:q;lr>\r\n"),
    in_dialog("ACK", to_tag="t", cseq=1),
    in_dialog("BYE", to_tag="t"),
    in_dialog("INVITE", to_tag="t"),
    cancel(),
    RESPONSE,
    invite().replace(b"INVITE sip", b"OPTIONS sip").replace(b"1 INVITE", b"1 OPTIONS"),
    invite().replace(b"INVITE sip", b"REGISTER sip").replace(b"1 INVITE", b"1 REGISTER"),
]
SPECIAL = [b"\r\n", b":", b";", b",", b"<", b">", b'"', b"\x00", b"\xff", b" ", b"=", b"@",
           b"99999999999", b"-1", b"\r\n\r\n", b"tag=", b"branch=z9hG4bK", b"%", b"["]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.integers(0, 4))
        if action == 0:
            data[position] = draw(st.integers(0, 255))
        elif action == 1:
            del data[position : position + draw(st.integers(1, 40))]
        elif action == 2:
            data[position:position] = draw(st.sampled_from(SPECIAL))
        elif action == 3:
            data = data[:position]
        else:
            line_end = data.find(b"\r\n", position)
            if line_end > 0:
                start = data.rfind(b"\r\n", 0, position) + 2
                data[line_end:line_end] = b"\r\n" + data[start:line_end]  # duplicate a line
    return bytes(data)


messages = st.one_of(mutated(), st.binary(max_size=600))


@given(messages)
@settings(max_examples=600, deadline=None)
def test_parser_raises_only_parse_errors(data: bytes) -> None:
    try:
        message = parse_message(data)
    except SipParseError:
        return
    # What parses must serialise and parse again.
    assert parse_message(message.to_bytes()).to_bytes() == message.to_bytes()


def _agent() -> SipUserAgent:
    return SipUserAgent(
        SipSettings(port=5060, garbage_burst=10**6, invite_burst=10**6), local_port=5060
    )


@given(st.lists(st.tuples(messages, st.integers(0, 3)), min_size=1, max_size=25))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_agent_survives_any_sequence_of_datagrams(batch: list[tuple[bytes, int]]) -> None:
    agent = _agent()
    now = 0.0
    for data, source in batch:
        now += 0.05
        events = agent.receive_datagram(data, (f"127.0.0.{source + 1}", 5999), now)
        for event in events:  # behave like the driver: answer or reject every call
            if isinstance(event, IncomingCall):
                if source % 2:
                    agent.answer(event.leg_id, OFFER.encode(), now)
                else:
                    agent.reject(event.leg_id, 404, now)
        agent.take_outgoing()
    # Every timer fires without error, and every transaction ends (bounded state).
    for _ in range(10_000):
        deadline = agent.next_deadline()
        if deadline is None:
            break
        agent.handle_timer(deadline)
        agent.take_outgoing()
    assert agent.transactions() == 0
    assert agent.next_deadline() is None


@given(st.lists(st.binary(max_size=300), max_size=20), st.sampled_from(CORPUS))
@settings(max_examples=200, deadline=None)
def test_stream_framer_only_raises_parse_errors(chunks: list[bytes], message: bytes) -> None:
    framer = StreamFramer(max_size=8192)
    try:
        for chunk in [message[:7], message[7:], *chunks]:
            for framed in framer.feed(chunk):
                assert len(framed) <= 8192
    except SipParseError:
        pass


def test_stream_framer_splits_pipelined_messages() -> None:
    framer = StreamFramer(max_size=8192)
    stream = invite() + b"\r\n" + in_dialog("BYE", to_tag="t")
    out: list[bytes] = []
    for i in range(0, len(stream), 13):
        out += framer.feed(stream[i : i + 13])
    assert out == [invite(), in_dialog("BYE", to_tag="t")]


@given(st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode),
                 st.sampled_from([OFFER.encode()]).map(lambda b: b[: len(b) // 2])))  # fmt: skip
@settings(max_examples=300, deadline=None)
def test_sdp_and_rtp_parsers_never_raise_unexpectedly(data: bytes) -> None:
    with contextlib.suppress(SdpError):
        negotiate(parse_sdp(data))
    packet = parse_rtp(data)
    if packet is not None:
        DtmfReceiver(packet.payload_type).receive(packet)


@pytest.mark.slow
def test_flood_of_garbage_and_calls_keeps_memory_bounded() -> None:
    settings = SipSettings(port=5060, tracked_sources=1000, max_transactions=2000)
    agent = SipUserAgent(settings, local_port=5060)
    tracemalloc.start()
    try:
        now = 0.0
        baseline = 0
        for i in range(8_000):
            now += 0.015  # 33 INVITEs/s from ever new (spoofed) sources for 120 s
            source = (f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", 5060)
            if i % 2:
                agent.receive_datagram(b"garbage %d\r\n\r\n" % i, source, now)
            else:
                data = invite(branch=f"z9hG4bK-{i}", call_id=f"flood-{i}")
                for event in agent.receive_datagram(data, source, now):
                    if isinstance(event, IncomingCall):
                        agent.reject(event.leg_id, 486, now)
            agent.take_outgoing()
            agent.handle_timer(now)
            if i == 4_000:  # 60 s in: past timer H (32 s), transactions at steady state
                baseline = tracemalloc.get_traced_memory()[0]
            assert agent.transactions() <= settings.max_transactions
        current = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # Rate limiter, amplification ledger and penalty box are LRU-bounded; transactions
    # expire with timer H and are capped, so 4,000 more spoofed sources add little.
    assert len(agent.invite_limiter) <= 1000
    assert len(agent.guard) <= 1000
    assert current < baseline * 1.2 + 500_000, (baseline, current)


def test_transaction_cap_sheds_load_statelessly() -> None:
    agent = SipUserAgent(SipSettings(port=5060, max_transactions=16), local_port=5060)
    for i in range(40):
        data = invite(branch=f"z9hG4bK-{i}", call_id=f"c-{i}")
        for event in agent.receive_datagram(data, (f"10.0.0.{i}", 5060), 0.0):
            if isinstance(event, IncomingCall):
                agent.reject(event.leg_id, 486, 0.0)
    assert agent.transactions() == 16
    assert agent.stats["overload_drops"] == 24
