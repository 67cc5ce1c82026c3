"""A re-INVITE that moves a call from PCMU to PCMA mid-prompt: what was rendered as µ-law
is re-encoded, never sent as µ-law bytes labelled A-law (loud noise; issue 12.7)."""

from __future__ import annotations

import asyncio
import socket

from dipflow.channels.sip.message import SipMessage, parse_message
from dipflow.channels.sip.rtp import RtpPacket, parse_rtp
from dipflow.media import g711
from tests.sip.sip_helpers import OFFER, in_dialog, invite, to_tag_of
from tests.sip.sip_host import GREETING, ScriptedHost, running_server, shared_prompts


def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def _response(sock: socket.socket, status: int, cseq: int) -> SipMessage:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(5):
        while True:
            message = parse_message(await loop.sock_recv(sock, 65535))
            if message.status == status and message.cseq[0] == cseq:
                return message


async def _packets(sock: socket.socket, seconds: float) -> list[RtpPacket]:
    loop = asyncio.get_running_loop()
    out: list[RtpPacket] = []
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            packet = parse_rtp(await asyncio.wait_for(loop.sock_recv(sock, 2048), left))
        except TimeoutError:
            break
        if packet is not None:
            out.append(packet)
    return out


def _request(request: bytes, sip_port: int, body: str = "") -> bytes:
    request = request.replace(b"127.0.0.1:5999", f"127.0.0.1:{sip_port}".encode())
    if not body:
        return request
    head = request.replace(b"Content-Length: 0\r\n\r\n", b"")
    extra = f"Contact: <sip:caller@127.0.0.1:{sip_port}>\r\nContent-Type: application/sdp\r\n"
    return head + f"{extra}Content-Length: {len(body)}\r\n\r\n{body}".encode()


async def test_a_reinvite_to_pcma_re_encodes_the_prompt_being_played() -> None:
    greeting = shared_prompts().render_text(GREETING, language="en-US", voice=None)
    as_ulaw, re_encoded = greeting.ulaw(), g711.ulaw_to_alaw(greeting.ulaw())
    host = ScriptedHost(menu=False)
    sip, rtp = _udp(), _udp()
    sip_port, rtp_port = sip.getsockname()[1], rtp.getsockname()[1]
    try:
        async with running_server(host) as server:
            offer = OFFER.replace("m=audio 6000", f"m=audio {rtp_port}")
            sip.sendto(invite(body=offer, port=sip_port), server.address)
            tag = to_tag_of(await _response(sip, 200, 1))
            ack = in_dialog("ACK", to_tag=tag, cseq=1, branch="z9hG4bK-ack")
            sip.sendto(_request(ack, sip_port), server.address)
            before = await _packets(rtp, 0.6)
            alaw_only = offer.replace("RTP/AVP 0 8 101", "RTP/AVP 8 101")
            reinvite = in_dialog("INVITE", to_tag=tag, cseq=2, branch="z9hG4bK-re")
            sip.sendto(_request(reinvite, sip_port, alaw_only), server.address)
            await _response(sip, 200, 2)
            ack2 = in_dialog("ACK", to_tag=tag, cseq=2, branch="z9hG4bK-ack2")
            sip.sendto(_request(ack2, sip_port), server.address)
            after = await _packets(rtp, 1.0)
    finally:
        sip.close()
        rtp.close()
    assert {p.payload_type for p in before} == {0}
    speech = [p.payload for p in after if p.payload_type == 8 and len(set(p.payload)) > 20]
    assert len(speech) >= 20  # the greeting goes on, in A-law
    assert all(payload in re_encoded for payload in speech)
    assert not any(payload in as_ulaw for payload in speech)
