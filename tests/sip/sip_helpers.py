"""Builders for SIP test traffic (shared by the tests of this folder)."""

from __future__ import annotations

import re

from dipflow.channels.sip.message import SipMessage, parse_message

PEER = ("127.0.0.1", 5999)

OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
)


def invite(
    *,
    branch: str = "z9hG4bK-1",
    call_id: str = "call-1@test",
    from_tag: str = "caller-tag",
    user: str = "+15551234567",
    dnis: str = "1000",
    body: str = OFFER,
    extra: str = "",
    port: int = 5999,
) -> bytes:
    text = (
        f"INVITE sip:{dnis}@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f'From: "Caller" <sip:{user}@127.0.0.1>;tag={from_tag}\r\n'
        f"To: <sip:{dnis}@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:caller@127.0.0.1:{port}>\r\n"
        f"{extra}"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
    )
    return text.encode()


def in_dialog(
    method: str,
    *,
    to_tag: str,
    branch: str = "z9hG4bK-2",
    call_id: str = "call-1@test",
    from_tag: str = "caller-tag",
    cseq: int = 2,
    dnis: str = "1000",
) -> bytes:
    cseq_method = "INVITE" if method == "ACK" and cseq == 1 else method
    if method == "ACK":
        cseq_method = "ACK"
    text = (
        f"{method} sip:dipflow@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f'From: "Caller" <sip:+15551234567@127.0.0.1>;tag={from_tag}\r\n'
        f"To: <sip:{dnis}@127.0.0.1>;tag={to_tag}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {cseq_method}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    return text.encode()


def cancel(*, branch: str = "z9hG4bK-1", call_id: str = "call-1@test") -> bytes:
    text = (
        "CANCEL sip:1000@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        'From: "Caller" <sip:+15551234567@127.0.0.1>;tag=caller-tag\r\n'
        "To: <sip:1000@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 CANCEL\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    return text.encode()


def parse_all(outgoing: list[bytes]) -> list[SipMessage]:
    return [parse_message(data) for data in outgoing]


def to_tag_of(message: SipMessage) -> str:
    match = re.search(r"tag=([^;>\s]+)", message.headers.get("To") or "")
    assert match is not None
    return match.group(1)
