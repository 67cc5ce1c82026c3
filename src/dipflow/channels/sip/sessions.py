"""The RTP sessions of the SIP channel and their SDP. Layer 4 (channels).

`SessionPool` opens sessions on the configured port range, paces them all on one
`MediaClock`, and writes and reads the SDP of both call directions: the answer to a
caller's offer (RFC 3264 §6) and the offer to an agent's phone.

Where the sessions live is `SipSettings.media_mode`: on this event loop ("inline",
`RtpSession`s), or in the media worker ("process"/"thread": `MediaLeg` handles on the
worker's `RtpSession`s, see `media_link.py`). All of a channel's legs live in one place,
so any two can be bridged.
"""

from __future__ import annotations

import secrets

from dipflow.channels.sip.latch import Ledger
from dipflow.channels.sip.media import (
    MediaClock,
    PortAllocator,
    RtpSession,
    SessionListener,
    open_session,
)
from dipflow.channels.sip.media_link import MediaLeg, MediaLink
from dipflow.channels.sip.sdp import (
    Codec,
    Direction,
    Negotiated,
    SdpError,
    build_sdp,
    negotiate,
    parse_sdp,
)
from dipflow.channels.sip.settings import SipSettings
from dipflow.channels.sip.srtp import PLAIN, OurOffer, Secured

Session = RtpSession | MediaLeg
"""A leg's RTP: in this loop, or a handle on the media worker."""

DTMF_PAYLOAD_TYPE = 101
"""The RFC 4733 telephone-event payload type we offer to agents' phones."""


class SessionPool:
    """Ports, the media clock, and offer/answer for the channel's sessions."""

    def __init__(self, settings: SipSettings) -> None:
        self.settings = settings
        self.clock = MediaClock()
        self.ports = PortAllocator(settings.rtp_port_min, settings.rtp_port_max)
        self.codecs = tuple(Codec[name] for name in settings.codecs)
        self.media_expected: dict[Session, bool] = {}
        """Sessions whose peer must keep sending RTP (see `media_expected`)."""
        self.link = MediaLink(settings) if settings.media_mode != "inline" else None
        """The media worker, unless media is paced on this loop."""
        self.ledger: Ledger | None = None
        """The user agent's amplification ledger (set when the channel starts): media to an
        address counts against what that address sent us until it has proved itself."""

    async def start(self) -> None:
        """Start the media worker (one that cannot start is a `ChannelError`: no call is
        taken without media), or pace this loop's sessions ("inline")."""
        if self.link is not None:
            await self.link.start()  # the worker paces every leg: this loop's clock is unused
        else:
            self.clock.start()

    async def stop(self) -> None:
        await self.clock.stop()
        if self.link is not None:
            await self.link.stop()

    async def open(self, *, signalling_ip: str | None = None) -> Session | None:
        """A session on a free port of the range; None when the range is exhausted (or
        the media worker is gone). `signalling_ip`: where the leg's SIP comes from (a
        hint for RTP latching)."""
        if self.link is not None:
            return await self.link.open(signalling_ip=signalling_ip)
        if self.ledger is None:
            raise RuntimeError("the SIP channel is not started")
        return await open_session(
            self.settings.host, self.ports, SessionListener(), ledger=self.ledger,
            latch_window_s=self.settings.rtp_latch_window_s, signalling_ip=signalling_ip,
        )  # fmt: skip

    def start_pacing(self, session: Session) -> None:
        if isinstance(session, RtpSession):  # the worker paces its sessions from the start
            self.clock.add(session)
        session.rtcp_reports.start(self.settings.rtcp_interval_s)

    def configure(self, session: Session, negotiated: Negotiated) -> None:
        """Apply an offer/answer to `session`; remember whether media must flow from the peer."""
        session.configure(negotiated)
        self.media_expected[session] = media_expected(negotiated)

    def close(self, session: Session) -> None:
        self.media_expected.pop(session, None)
        if isinstance(session, MediaLeg):
            session.close()
            return
        self.clock.remove(session)
        session.close()
        self.ports.release(session.port)

    def negotiate(self, body: bytes, codecs: tuple[str, ...] | None = None) -> Negotiated | None:
        """What we can serve of the peer's SDP: None for no offer, a broken one, or no
        codec in common (`codecs`: a trunk's own list instead of the channel's)."""
        supported = tuple(Codec[name] for name in codecs) if codecs else self.codecs
        try:
            return negotiate(parse_sdp(body), supported)
        except SdpError:
            return None

    def answer(
        self,
        session: Session,
        negotiated: Negotiated,
        secured: Secured | None = None,
        address: str | None = None,
    ) -> bytes:
        """Our answer; `secured`: SRTP with our key (srtp.py); `address`: a trunk's
        public address instead of the channel's."""
        return build_sdp(
            session_id=secrets.randbelow(2**31), version=1,
            address=address or self.settings.public_host, port=session.port,
            codecs=(negotiated.codec,), dtmf_payload_type=negotiated.dtmf_payload_type,
            direction=negotiated.direction,
            profile=secured.profile if secured else PLAIN,
            crypto=(secured.line.attribute(),) if secured else (),
            rtcp_mux=negotiated.rtcp_mux,
        )  # fmt: skip

    def offer(
        self,
        session: Session,
        security: OurOffer | None = None,
        address: str | None = None,
        codecs: tuple[str, ...] | None = None,
        first: Codec | None = None,
    ) -> bytes:
        """Our offer (an agent's phone, a trunk's callee); `first`: the codec to prefer
        (the caller's, so that a phone that has it spares the bridge a transcoding)."""
        offered = tuple(Codec[name] for name in codecs) if codecs else self.codecs
        if first in offered:
            offered = (first, *(c for c in offered if c is not first))
        return build_sdp(
            session_id=secrets.randbelow(2**31), version=1,
            address=address or self.settings.public_host, port=session.port,
            codecs=offered, dtmf_payload_type=DTMF_PAYLOAD_TYPE,
            profile=security.profile if security else PLAIN,
            crypto=security.attributes if security else (),
            rtcp_mux=True,  # RFC 5761 §5.1.1: we also listen on port + 1 if it declines
        )  # fmt: skip


def media_expected(negotiated: Negotiated) -> bool:
    """Whether the peer must be sending RTP: only on a plain two-way stream. A peer that
    holds us (RFC 3264 §8.4: sendonly, inactive, or the old c=0.0.0.0) may well send
    nothing at all, so a silent held stream is not a vanished caller."""
    return negotiated.direction is Direction.SENDRECV and negotiated.remote_address not in (
        "0.0.0.0",
        "::",
    )


def sends(negotiated: Negotiated) -> bool:
    """Whether the negotiated direction lets us send (not recvonly/inactive)."""
    return negotiated.direction in (Direction.SENDRECV, Direction.SENDONLY)


def relay(session: Session, source: Session | None) -> None:
    """`session` sends what `source` receives (None: its own playback again)."""
    if isinstance(session, RtpSession):
        assert source is None or isinstance(source, RtpSession)  # one pool, one kind
        session.bridge = source
    else:
        assert source is None or isinstance(source, MediaLeg)
        session.bridge = source
