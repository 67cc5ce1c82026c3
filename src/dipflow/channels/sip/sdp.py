"""SDP offer/answer for G.711 and G.722 audio with RFC 4733 telephone-events (RFC 4566,
RFC 3264). Layer 4 (channels).

We serve one audio stream: PCMU (static payload type 0), PCMA (8) or G.722 (9, whose
rtpmap says 8000 Hz although it samples at 16 kHz: RFC 3551 §4.5.2), 20 ms packets,
and `telephone-event` at whatever dynamic payload type the offerer chose. The answer
keeps the offerer's preference order (RFC 3264 §6.1) and returns `None` when nothing
can be served (the caller answers 488).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from dipflow.channels.errors import ChannelError


class Codec(IntEnum):
    """The codecs we serve, by their static RTP payload types (RFC 3551 table 4)."""

    PCMU = 0
    PCMA = 8
    G722 = 9


_ENCODING_NAMES = {Codec.PCMU: "PCMU/8000", Codec.PCMA: "PCMA/8000", Codec.G722: "G722/8000"}
"""rtpmap encoding names; G.722's clock rate is 8000 (RFC 3551 §4.5.2)."""


class Direction(StrEnum):
    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"


_REVERSE = {
    Direction.SENDRECV: Direction.SENDRECV,
    Direction.SENDONLY: Direction.RECVONLY,
    Direction.RECVONLY: Direction.SENDONLY,
    Direction.INACTIVE: Direction.INACTIVE,
}


_PROFILES = frozenset({"RTP/AVP", "RTP/SAVP"})
"""Plain RTP, and SRTP keyed by `a=crypto` (srtp.py decides whether to accept it)."""


class SdpError(ChannelError):
    """A session description we cannot parse."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioOffer:
    """What we need from a peer's session description (its first audio m-line)."""

    address: str
    port: int
    payload_types: tuple[int, ...]
    rtpmap: dict[int, str]
    direction: Direction
    rtcp_mux: bool = False
    """a=rtcp-mux (RFC 5761): RTCP on the RTP port."""
    rtcp_port: int | None = None
    """a=rtcp (RFC 3605): the RTCP port when it is not the RTP port + 1."""
    profile: str = "RTP/AVP"
    """`RTP/SAVP` when the stream demands SRTP (srtp.py)."""
    crypto: tuple[str, ...] = ()
    """The stream's `a=crypto` attributes (RFC 4568), as written."""

    @property
    def is_hold(self) -> bool:
        """RFC 3264 §8.4 (and the older c=0.0.0.0 form of RFC 2543)."""
        return self.direction in (Direction.SENDONLY, Direction.INACTIVE) or (
            self.address == "0.0.0.0"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Negotiated:
    codec: Codec
    dtmf_payload_type: int | None
    remote_address: str
    remote_port: int
    direction: Direction
    """Our direction towards the peer."""
    rtcp_mux: bool = False
    """Both sides multiplex RTCP on the RTP port (RFC 5761: the offer had a=rtcp-mux)."""
    rtcp_port: int | None = None
    """The peer's RTCP port (a=rtcp, RFC 3605); None: its RTP port + 1."""
    profile: str = "RTP/AVP"
    crypto: tuple[str, ...] = ()
    """The peer's SRTP offer or answer (srtp.py decides)."""


def parse_sdp(body: bytes) -> AudioOffer:
    # s=/i= lines may be Latin-1 (as SIP display names are); what we read is ASCII.
    text = body.decode("utf-8", "replace")
    session_address: str | None = None
    media_address: str | None = None
    session_direction = Direction.SENDRECV
    media_direction: Direction | None = None
    port: int | None = None
    payload_types: tuple[int, ...] = ()
    rtpmap: dict[int, str] = {}
    profile = "RTP/AVP"
    crypto: list[str] = []
    in_audio = False
    seen_audio = False
    rtcp_mux = False
    rtcp_port: int | None = None
    for raw in text.splitlines()[:200]:
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            if seen_audio:
                in_audio = False
                continue  # only the first audio stream is served
            fields = value.split()
            if len(fields) >= 4 and fields[0] == "audio" and fields[2].upper() in _PROFILES:
                in_audio = seen_audio = True
                profile = fields[2].upper()
                if not fields[1].isdigit() or int(fields[1]) > 65535:
                    raise SdpError("bad media port")
                port = int(fields[1])
                payload_types = tuple(int(f) for f in fields[3:32] if f.isdigit() and int(f) < 128)
            else:
                in_audio = False
        elif kind == "c":
            fields = value.split()
            if len(fields) >= 3 and fields[0] == "IN" and fields[1] in ("IP4", "IP6"):
                conn = fields[2].split("/", 1)[0]
                if in_audio:
                    media_address = conn
                elif not seen_audio:
                    session_address = conn
        elif kind == "a":
            name, _, attr = value.partition(":")
            if name in Direction.__members__.values():
                if in_audio:
                    media_direction = Direction(name)
                elif not seen_audio:
                    session_direction = Direction(name)
            elif name == "rtcp-mux" and in_audio:
                rtcp_mux = True
            elif name == "rtcp" and in_audio:
                port_text = attr.split(" ", 1)[0]
                if port_text.isdigit() and 0 < int(port_text) < 65536:
                    rtcp_port = int(port_text)
            elif name == "crypto" and in_audio and len(crypto) < 8:
                crypto.append(attr.strip())
            elif name == "rtpmap" and in_audio:
                pt_text, _, encoding = attr.partition(" ")
                if pt_text.isdigit():
                    rtpmap[int(pt_text)] = encoding.strip().lower()
    if port is None:
        raise SdpError("no RTP/AVP or RTP/SAVP audio stream")
    address = media_address or session_address
    if address is None:
        raise SdpError("no connection address")
    try:
        ipaddress.ip_address(address)
    except ValueError as exc:
        raise SdpError("connection address is not an IP address") from exc
    return AudioOffer(
        address=address,
        port=port,
        payload_types=payload_types,
        rtpmap=rtpmap,
        direction=media_direction or session_direction,
        rtcp_mux=rtcp_mux,
        rtcp_port=rtcp_port,
        profile=profile,
        crypto=tuple(crypto),
    )


def _codec_of(offer: AudioOffer, pt: int) -> Codec | None:
    encoding = offer.rtpmap.get(pt)
    if encoding is None:  # static payload types need no rtpmap (RFC 3551)
        return Codec(pt) if pt in Codec._value2member_map_ else None
    for codec, name in _ENCODING_NAMES.items():
        if encoding.startswith(name.lower()):
            return codec
    return None


def negotiate(
    offer: AudioOffer, supported: tuple[Codec, ...] = (Codec.PCMU, Codec.PCMA)
) -> Negotiated | None:
    """Choose the offerer's first codec that we support; None means 488."""
    if offer.port == 0:
        return None  # a rejected/disabled stream (RFC 3264 §5.1)
    codec: Codec | None = None
    for pt in offer.payload_types:
        candidate = _codec_of(offer, pt)
        if candidate is not None and candidate in supported and candidate.value == pt:
            codec = candidate
            break
    if codec is None:
        return None
    dtmf = next(
        (
            pt
            for pt in offer.payload_types
            if offer.rtpmap.get(pt, "").startswith("telephone-event/8000")
        ),
        None,
    )
    return Negotiated(
        codec=codec,
        dtmf_payload_type=dtmf,
        remote_address=offer.address,
        remote_port=offer.port,
        direction=_REVERSE[offer.direction],
        rtcp_mux=offer.rtcp_mux,
        rtcp_port=offer.rtcp_port,
        profile=offer.profile,
        crypto=offer.crypto,
    )


def build_sdp(
    *,
    session_id: int,
    version: int,
    address: str,
    port: int,
    codecs: tuple[Codec, ...],
    dtmf_payload_type: int | None,
    direction: Direction = Direction.SENDRECV,
    rtcp_mux: bool = False,
    profile: str = "RTP/AVP",
    crypto: tuple[str, ...] = (),
) -> bytes:
    """An offer (several codecs) or an answer (the one negotiated codec); `profile` and
    `crypto` (`a=crypto` values) for SRTP (srtp.py)."""
    family = "IP6" if ":" in address else "IP4"
    formats = [str(int(c)) for c in codecs]
    if dtmf_payload_type is not None:
        formats.append(str(dtmf_payload_type))
    lines = [
        "v=0",
        f"o=dipflow {session_id} {version} IN {family} {address}",
        "s=dipflow",
        f"c=IN {family} {address}",
        "t=0 0",
        f"m=audio {port} {profile} {' '.join(formats)}",
    ]
    lines += [f"a=crypto:{value}" for value in crypto]
    lines += [f"a=rtpmap:{int(c)} {_ENCODING_NAMES[c]}" for c in codecs]
    if dtmf_payload_type is not None:
        lines.append(f"a=rtpmap:{dtmf_payload_type} telephone-event/8000")
        lines.append(f"a=fmtp:{dtmf_payload_type} 0-16")
    lines += ["a=ptime:20", f"a={direction.value}"]
    if rtcp_mux:
        lines.append("a=rtcp-mux")
    return ("\r\n".join(lines) + "\r\n").encode()
