"""A small SIP user agent over UDP for the attacks: it sends what a test writes, byte for
byte (a replay is a replay), computes digest answers as RFC 2617/7616 define them, and
collects whatever comes back."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass, field

from dipflow.channels.sip.message import SipMessage, SipParseError, parse_message

Address = tuple[str, int]


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_header(
    *,
    user: str,
    password: str,
    realm: str,
    nonce: str,
    uri: str,
    method: str = "REGISTER",
    nc: int = 1,
    cnonce: str = "0a4f113b",
) -> str:
    """An Authorization value, qop=auth (RFC 2617 §3.2.2)."""
    ha1 = md5(f"{user}:{realm}:{password}")
    ha2 = md5(f"{method}:{uri}")
    count = f"{nc:08x}"
    response = md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm=MD5, qop=auth, nc={count}, cnonce="{cnonce}"'
    )


def challenge_params(message: SipMessage) -> dict[str, str]:
    header = message.headers.get("WWW-Authenticate") or ""
    return dict(re.findall(r'(\w+)="?([^",]+)"?', header))


@dataclass
class SipPeer(asyncio.DatagramProtocol):
    """`await SipPeer.open(host)`; `send(bytes, to)`; `await next_message(...)`."""

    received: asyncio.Queue[tuple[SipMessage, Address]] = field(default_factory=asyncio.Queue)
    transport: asyncio.DatagramTransport | None = None
    port: int = 0
    host: str = "127.0.0.1"

    @classmethod
    async def open(cls, host: str = "127.0.0.1", port: int = 0) -> SipPeer:
        loop = asyncio.get_running_loop()
        peer = cls(host=host)
        transport, _ = await loop.create_datagram_endpoint(lambda: peer, local_addr=(host, port))
        peer.transport = transport
        peer.port = int(transport.get_extra_info("sockname")[1])
        return peer

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            message = parse_message(data)
        except SipParseError:
            return
        self.received.put_nowait((message, (str(addr[0]), int(addr[1]))))

    def send(self, data: bytes, to: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def next_message(self, within_s: float = 2.0) -> SipMessage | None:
        try:
            message, _ = await asyncio.wait_for(self.received.get(), within_s)
        except TimeoutError:
            return None
        return message

    async def final_response(self, call_id: str, within_s: float = 2.0) -> SipMessage | None:
        """The next final (>= 200) response of `call_id`; None when none comes in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while (left := deadline - loop.time()) > 0:
            message = await self.next_message(left)
            if message is None:
                return None
            if message.call_id == call_id and (message.status or 0) >= 200:
                return message
        return None

    def drain(self) -> list[SipMessage]:
        out = []
        while not self.received.empty():
            out.append(self.received.get_nowait()[0])
        return out

    # -- requests --

    def register_bytes(
        self,
        *,
        user: str,
        server: Address,
        call_id: str,
        cseq: int,
        authorization: str | None = None,
        expires: int = 600,
        branch: str | None = None,
    ) -> bytes:
        branch = branch or "z9hG4bK" + secrets.token_hex(8)
        uri = f"sip:{server[0]}:{server[1]}"
        lines = [
            f"REGISTER {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{user}@dipflow>;tag=reg{call_id[:6]}",
            f"To: <sip:{user}@dipflow>",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} REGISTER",
            f"Contact: <sip:{user}@{self.host}:{self.port}>",
            f"Expires: {expires}",
        ]
        if authorization is not None:
            lines.append(f"Authorization: {authorization}")
        lines += ["Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode()

    async def register(
        self, *, user: str, password: str, server: Address, call_id: str | None = None
    ) -> tuple[SipMessage | None, bytes]:
        """Register as a phone does (REGISTER, 401, REGISTER with the answer): the final
        response and the authenticated request's bytes (what an eavesdropper captures)."""
        call_id = call_id or secrets.token_hex(8)
        self.send(self.register_bytes(user=user, server=server, call_id=call_id, cseq=1), server)
        challenge = await self.final_response(call_id)
        assert challenge is not None and challenge.status == 401, challenge
        params = challenge_params(challenge)
        authorization = digest_header(
            user=user, password=password, realm=params["realm"], nonce=params["nonce"],
            uri=f"sip:{server[0]}:{server[1]}",
        )  # fmt: skip
        data = self.register_bytes(
            user=user, server=server, call_id=call_id, cseq=2, authorization=authorization
        )
        self.send(data, server)
        return await self.final_response(call_id), data


def sdp_offer(host: str, rtp_port: int, *, direction: str = "sendrecv") -> bytes:
    return (
        "v=0\r\n"
        f"o=caller 1 1 IN IP4 {host}\r\n"
        "s=-\r\n"
        f"c=IN IP4 {host}\r\n"
        "t=0 0\r\n"
        f"m=audio {rtp_port} RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        f"a={direction}\r\n"
    ).encode()


@dataclass
class Dialog:
    call_id: str
    from_tag: str
    to_header: str
    remote_target: str
    cseq: int
    rtp: RtpPeer
    answer_port: int | None = None
    """The RTP port of the node's SDP answer."""


class RtpPeer(asyncio.DatagramProtocol):
    """The caller's RTP socket: counts what arrives, sends µ-law frames on request."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.received = 0
        self.remote: Address | None = None
        self._seq = 0

    @classmethod
    async def open(cls, host: str) -> RtpPeer:
        loop = asyncio.get_running_loop()
        peer = cls()
        transport, _ = await loop.create_datagram_endpoint(lambda: peer, local_addr=(host, 0))
        peer.transport = transport
        peer.port = int(transport.get_extra_info("sockname")[1])
        return peer

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.received += 1
        self.remote = (str(addr[0]), int(addr[1]))

    def send_frame(self, to: Address) -> None:
        """One 20 ms PCMU packet (RFC 3550 header, payload type 0)."""
        assert self.transport is not None
        self._seq += 1
        header = bytes([0x80, 0x00]) + (self._seq & 0xFFFF).to_bytes(2, "big")
        header += (self._seq * 160).to_bytes(4, "big") + (0x1234ABCD).to_bytes(4, "big")
        self.transport.sendto(header + b"\xff" * 160, to)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


async def place_call(
    peer: SipPeer,
    server: Address,
    *,
    ani: str = "+14155550123",
    dnis: str = "18005550100",
    extra_headers: tuple[str, ...] = (),
    within_s: float = 10.0,
) -> Dialog | None:
    """INVITE with an SDP offer, wait for the 2xx, ACK it; None if it was refused."""
    rtp = await RtpPeer.open(peer.host)
    call_id = secrets.token_hex(8)
    from_tag = secrets.token_hex(4)
    body = sdp_offer(peer.host, rtp.port)
    lines = [
        f"INVITE sip:{dnis}@{server[0]}:{server[1]} SIP/2.0",
        f"Via: SIP/2.0/UDP {peer.host}:{peer.port};branch=z9hG4bK{secrets.token_hex(8)};rport",
        "Max-Forwards: 70",
        f"From: <sip:{ani}@{peer.host}>;tag={from_tag}",
        f"To: <sip:{dnis}@{server[0]}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 INVITE",
        f"Contact: <sip:{ani}@{peer.host}:{peer.port}>",
        *extra_headers,
        "Content-Type: application/sdp",
        f"Content-Length: {len(body)}",
        "",
        "",
    ]
    peer.send("\r\n".join(lines).encode() + body, server)
    final = await peer.final_response(call_id, within_s)
    if final is None or final.status != 200:
        rtp.close()
        return None
    to_header = final.headers.get("To") or ""
    contact = final.headers.get("Contact") or f"<sip:{server[0]}:{server[1]}>"
    target = contact.strip().lstrip("<").split(">")[0]
    port = re.search(rb"m=audio (\d+)", final.body)
    dialog = Dialog(call_id=call_id, from_tag=from_tag, to_header=to_header,
                    remote_target=target, cseq=1, rtp=rtp,
                    answer_port=int(port.group(1)) if port else None)  # fmt: skip
    peer.send(in_dialog(peer, dialog, "ACK", ani=ani, cseq=1), server)
    return dialog


def in_dialog(
    peer: SipPeer,
    dialog: Dialog,
    method: str,
    *,
    ani: str = "+14155550123",
    cseq: int,
    body: bytes = b"",
    content_type: str | None = None,
) -> bytes:
    lines = [
        f"{method} {dialog.remote_target} SIP/2.0",
        f"Via: SIP/2.0/UDP {peer.host}:{peer.port};branch=z9hG4bK{secrets.token_hex(8)};rport",
        "Max-Forwards: 70",
        f"From: <sip:{ani}@{peer.host}>;tag={dialog.from_tag}",
        f"To: {dialog.to_header}",
        f"Call-ID: {dialog.call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:{ani}@{peer.host}:{peer.port}>",
    ]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode() + body
