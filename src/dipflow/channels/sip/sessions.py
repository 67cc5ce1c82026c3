"""The RTP sessions of the SIP channel and their SDP. Layer 4 (channels).

`SessionPool` opens sessions (`MediaLeg`s) in the media worker, which binds them on the
configured port range and paces them all, and writes and reads the SDP of both call
directions: the answer to a caller's offer (RFC 3264 §6) and the offer to an agent's
phone.
"""

from __future__ import annotations

import secrets

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

DTMF_PAYLOAD_TYPE = 101
"""The RFC 4733 telephone-event payload type we offer to agents' phones."""


class SessionPool:
    """The media worker's sessions, and offer/answer for them."""

    def __init__(self, settings: SipSettings) -> None:
        self.settings = settings
        self.media = MediaLink(settings)
        self.codecs = tuple(Codec[name] for name in settings.codecs)

    async def open(self) -> MediaLeg | None:
        """A session on a free port of the range; None when the range is exhausted."""
        return await self.media.open()

    def close(self, session: MediaLeg) -> None:
        session.close()

    def negotiate(self, body: bytes) -> Negotiated | None:
        """What we can serve of the peer's SDP: None for no offer, a broken one, or no
        codec in common."""
        try:
            return negotiate(parse_sdp(body), self.codecs)
        except SdpError:
            return None

    def answer(self, session: MediaLeg, negotiated: Negotiated) -> bytes:
        return build_sdp(
            session_id=secrets.randbelow(2**31), version=1, address=self.settings.public_host,
            port=session.port, codecs=(negotiated.codec,),
            dtmf_payload_type=negotiated.dtmf_payload_type, direction=negotiated.direction,
        )  # fmt: skip

    def offer(self, session: MediaLeg) -> bytes:
        return build_sdp(
            session_id=secrets.randbelow(2**31), version=1, address=self.settings.public_host,
            port=session.port, codecs=self.codecs, dtmf_payload_type=DTMF_PAYLOAD_TYPE,
        )  # fmt: skip


def sends(negotiated: Negotiated) -> bool:
    """Whether the negotiated direction lets us send (not recvonly/inactive)."""
    return negotiated.direction in (Direction.SENDRECV, Direction.SENDONLY)
