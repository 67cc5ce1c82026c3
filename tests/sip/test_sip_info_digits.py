"""Key presses as SIP INFO (issue 12.3): `application/dtmf-relay` (Cisco's format) and
`application/dtmf` are digits; any other INFO body is refused (415), never a silent 200; a
call takes keys by the first route they come (INFO or RFC 4733), so a phone sending both
is heard once. linphone's `use_info` does this for real in tests/interop."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from dipflow.channels.sip.agent import SipUserAgent
from dipflow.channels.sip.digits import DigitMethod, DigitRoute, InfoBodyError, digit_of_info
from dipflow.channels.sip.events import CallConfirmed, InfoDigit
from dipflow.channels.sip.message import SipMessage, parse_message
from dipflow.channels.sip.rtp import DtmfDigit
from dipflow.channels.sip.sdp import parse_sdp
from dipflow.engine.events import DigitsCollected
from tests.sip.sip_helpers import OFFER, PEER, in_dialog, invite, parse_all, to_tag_of
from tests.sip.sip_host import ScriptedHost, running_server
from tests.sip.test_sip_agent import make_agent, start_call


def _info(to_tag: str, cseq: int, content_type: str, body: bytes) -> bytes:
    request = in_dialog("INFO", to_tag=to_tag, cseq=cseq, branch=f"z9hG4bK-info{cseq}")
    head = request.replace(b"Content-Length: 0\r\n\r\n", b"")
    return (
        head
        + f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def _confirmed() -> tuple[SipUserAgent, str, str]:
    agent = make_agent()
    leg_id, tag = start_call(agent)
    ack = in_dialog("ACK", to_tag=tag, cseq=1, branch="z9hG4bK-ack")
    assert [type(e) for e in agent.receive_datagram(ack, PEER, 0.1)] == [CallConfirmed]
    return agent, leg_id, tag


def _responses(agent: SipUserAgent) -> list[SipMessage]:
    return parse_all([o.data for o in agent.take_outgoing()])


def test_dtmf_relay_and_dtmf_infos_are_digits() -> None:
    agent, leg_id, tag = _confirmed()
    cisco = b"Signal=5\r\nDuration=160\r\n"
    events = agent.receive_datagram(_info(tag, 2, "application/dtmf-relay", cisco), PEER, 1.0)
    assert events == [InfoDigit(leg_id=leg_id, digit=DtmfDigit.D5)]
    assert [m.status for m in _responses(agent)] == [200]
    events = agent.receive_datagram(_info(tag, 3, "application/dtmf", b"#"), PEER, 2.0)
    assert events == [InfoDigit(leg_id=leg_id, digit=DtmfDigit.POUND)]
    assert [m.status for m in _responses(agent)] == [200]


def test_other_infos_are_refused_not_silently_accepted() -> None:
    agent, _, tag = _confirmed()
    xml = b"<media_control><vc_primitive/></media_control>"
    events = agent.receive_datagram(_info(tag, 2, "application/media_control+xml", xml), PEER, 1)
    assert events == []
    (refused,) = _responses(agent)
    assert refused.status == 415
    assert refused.headers.get("Accept") == "application/dtmf-relay, application/dtmf"
    bad = _info(tag, 3, "application/dtmf-relay", b"Signal=X\r\n")
    assert agent.receive_datagram(bad, PEER, 2.0) == []
    assert [m.status for m in _responses(agent)] == [400]
    probe = in_dialog("INFO", to_tag=tag, cseq=4, branch="z9hG4bK-probe")  # no body
    assert agent.receive_datagram(probe, PEER, 3.0) == []
    assert [m.status for m in _responses(agent)] == [200]


@pytest.mark.parametrize(
    ("content_type", "body", "digit"),
    [
        ("application/dtmf-relay", b"Signal= 1\r\nDuration= 250", DtmfDigit.D1),
        ("application/dtmf-relay", b"signal=*", DtmfDigit.STAR),
        ("Application/DTMF-Relay; charset=ascii", b"Signal=11\nDuration=100", DtmfDigit.POUND),
        ("application/dtmf-relay", b"Signal=d", DtmfDigit.D),
        ("application/dtmf", b"0\r\n", DtmfDigit.D0),
    ],
)
def test_info_bodies_as_phones_write_them(content_type: str, body: bytes, digit: DtmfDigit) -> None:
    assert digit_of_info(content_type, body) is digit


@pytest.mark.parametrize("body", [b"", b"Duration=160", b"Signal=", b"Signal=16", b"\xff"])
def test_info_bodies_naming_no_key(body: bytes) -> None:
    with pytest.raises(InfoBodyError):
        digit_of_info("application/dtmf-relay", body)


def test_a_call_takes_keys_by_the_first_route_only() -> None:
    route = DigitRoute()
    assert route.admit(DigitMethod.SIP_INFO)
    assert not route.admit(DigitMethod.RFC4733)  # the same press, sent both ways
    assert route.admit(DigitMethod.SIP_INFO)
    assert route.ignored == 1
    assert not route.admit(DigitMethod.INBAND)  # tones of a phone that signals its keys


def test_signalled_keys_take_over_from_tones() -> None:
    """A false in-band detection must not make the call deaf to the phone's INFO keys."""
    route = DigitRoute()
    assert route.admit(DigitMethod.INBAND)
    assert route.admit(DigitMethod.SIP_INFO)
    assert not route.admit(DigitMethod.INBAND)


async def test_a_phone_sending_info_and_rfc4733_is_heard_once() -> None:
    host = ScriptedHost(menu=False)
    sip, rtp = _udp(), _udp()
    sip_port, rtp_port = sip.getsockname()[1], rtp.getsockname()[1]
    try:
        async with running_server(host) as server:
            offer = OFFER.replace("m=audio 6000", f"m=audio {rtp_port}")
            sip.sendto(invite(body=offer, port=sip_port), server.address)
            ok = await _response(sip, 200)
            tag = to_tag_of(ok)
            answer = parse_sdp(ok.body)
            ack = in_dialog("ACK", to_tag=tag, cseq=1, branch="z9hG4bK-ack")
            sip.sendto(_from(ack, sip_port), server.address)
            info = _info(tag, 2, "application/dtmf-relay", b"Signal=1\r\nDuration=160\r\n")
            sip.sendto(_from(info, sip_port), server.address)
            await _response(sip, 200, cseq=2)
            for seq in range(3):  # the same press as RFC 4733 events
                event = struct.pack("!BBHII", 0x80, 101, seq, 1000, 7) + bytes([1, 0x8A, 3, 0x20])
                rtp.sendto(event, (answer.address, answer.port))
            await asyncio.sleep(0.3)
            digits = [e for e in host.calls[0].events if isinstance(e, DigitsCollected)]
            assert digits == [DigitsCollected(digits="1")]
    finally:
        sip.close()
        rtp.close()


def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def _from(request: bytes, sip_port: int) -> bytes:
    return request.replace(b"127.0.0.1:5999", f"127.0.0.1:{sip_port}".encode())


async def _response(sock: socket.socket, status: int, cseq: int = 1) -> SipMessage:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(5):
        while True:
            message = parse_message(await loop.sock_recv(sock, 65535))
            if message.status == status and message.cseq[0] == cseq:
                return message
