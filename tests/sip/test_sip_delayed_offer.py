"""Delayed offer (RFC 3261 §13.2.1, RFC 3264 §5): an INVITE without SDP gets our offer in the
200 and brings its answer in the ACK, as trunks without early offer (Cisco CUCM) do.
linphone's `sdp_200_ack` does the same in tests/interop."""

from __future__ import annotations

import asyncio
import socket

from dipflow.channels.sip.message import SipMessage, parse_message
from dipflow.channels.sip.rtp import parse_rtp
from dipflow.channels.sip.sdp import parse_sdp
from dipflow.engine.events import CallerHungUp
from dipflow.media import g711
from tests.sip.sip_helpers import in_dialog, invite, to_tag_of
from tests.sip.sip_host import GREETING, ScriptedHost, running_server, shared_prompts


def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def _sip(sock: socket.socket, *, status: int | None = None, method: str | None = None,
               cseq: int = 1) -> SipMessage:  # fmt: skip
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(5):
        while True:
            message = parse_message(await loop.sock_recv(sock, 65535))
            if status is not None and message.status == status and message.cseq[0] == cseq:
                return message
            if method is not None and message.method == method:
                return message


async def _rtp(sock: socket.socket, seconds: float) -> list[bytes]:
    loop = asyncio.get_running_loop()
    out: list[bytes] = []
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            out.append(await asyncio.wait_for(loop.sock_recv(sock, 2048), left))
        except TimeoutError:
            break
    return out


def _answer(rtp_port: int, payload_types: str, direction: str = "sendrecv") -> str:
    lines = [
        "v=0", "o=- 2 2 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
        f"m=audio {rtp_port} RTP/AVP {payload_types}", "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", f"a={direction}",
    ]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


def _with_body(request: bytes, body: str, sip_port: int) -> bytes:
    request = request.replace(b"127.0.0.1:5999", f"127.0.0.1:{sip_port}".encode())
    head = request.replace(b"Content-Length: 0\r\n\r\n", b"")
    if not body:
        return request
    return (
        head
        + (f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()
    )


async def test_offer_in_the_200_answer_in_the_ack_then_media_in_the_answered_codec() -> None:
    greeting = shared_prompts().render_text(GREETING, language="en-US", voice=None)  # cached
    host = ScriptedHost(menu=False)
    sip, rtp = _udp(), _udp()
    sip_port, rtp_port = sip.getsockname()[1], rtp.getsockname()[1]
    try:
        async with running_server(host) as server:
            sip.sendto(invite(body="", port=sip_port), server.address)
            ok = await _sip(sip, status=200)
            offer = parse_sdp(ok.body)
            assert offer.payload_types == (0, 8, 9, 101)  # every codec we serve, and DTMF
            assert await _rtp(rtp, 0.5) == []  # no media before the answer
            ack = in_dialog("ACK", to_tag=to_tag_of(ok), cseq=1, branch="z9hG4bK-ack")
            sip.sendto(_with_body(ack, _answer(rtp_port, "8 101"), sip_port), server.address)
            packets = [parse_rtp(data) for data in await _rtp(rtp, 0.5)]
        assert len(packets) >= 15
        assert {p.payload_type for p in packets if p is not None} == {8}
        # The greeting was rendered (as µ-law) before the answer chose A-law: it is sent
        # re-encoded, not as µ-law bytes labelled A-law.
        first = packets[0]
        assert first is not None
        assert first.payload == g711.ulaw_to_alaw(greeting.ulaw()[:160])
    finally:
        sip.close()
        rtp.close()


async def test_an_ack_without_an_answer_ends_the_call_with_a_bye() -> None:
    host = ScriptedHost(menu=False)
    sip = _udp()
    sip_port = sip.getsockname()[1]
    try:
        async with running_server(host) as server:
            sip.sendto(invite(body="", port=sip_port), server.address)
            ok = await _sip(sip, status=200)
            ack = in_dialog("ACK", to_tag=to_tag_of(ok), cseq=1, branch="z9hG4bK-ack")
            sip.sendto(_with_body(ack, "", sip_port), server.address)
            bye = await _sip(sip, method="BYE")
            assert bye.call_id == ok.call_id
            await host.wait_calls(1, within_s=5)
        assert host.calls[0].events[-1] == CallerHungUp()
    finally:
        sip.close()


async def test_a_reinvite_without_sdp_is_answered_with_an_offer_hold_in_the_ack() -> None:
    host = ScriptedHost(menu=False)
    sip, rtp = _udp(), _udp()
    sip_port, rtp_port = sip.getsockname()[1], rtp.getsockname()[1]
    try:
        async with running_server(host) as server:
            sip.sendto(invite(body=_answer(rtp_port, "0 101"), port=sip_port), server.address)
            ok = await _sip(sip, status=200)
            tag = to_tag_of(ok)
            ack = in_dialog("ACK", to_tag=tag, cseq=1, branch="z9hG4bK-ack")
            sip.sendto(_with_body(ack, "", sip_port), server.address)
            assert len(await _rtp(rtp, 0.5)) >= 15
            reinvite = in_dialog("INVITE", to_tag=tag, cseq=2, branch="z9hG4bK-re")
            contact = f"Contact: <sip:caller@127.0.0.1:{sip_port}>\r\n".encode()
            reinvite = reinvite.replace(b"Content-Length: 0", contact + b"Content-Length: 0")
            sip.sendto(_with_body(reinvite, "", sip_port), server.address)
            reoffer = await _sip(sip, status=200, cseq=2)
            assert parse_sdp(reoffer.body).payload_types == (0, 8, 9, 101)
            ack2 = in_dialog("ACK", to_tag=tag, cseq=2, branch="z9hG4bK-ack2")
            hold = _answer(rtp_port, "0 101", direction="inactive")  # nobody sends
            sip.sendto(_with_body(ack2, hold, sip_port), server.address)
            await _rtp(rtp, 0.2)  # in flight
            assert await _rtp(rtp, 0.5) == []
            assert server.calls  # held, not hung up
    finally:
        sip.close()
        rtp.close()
