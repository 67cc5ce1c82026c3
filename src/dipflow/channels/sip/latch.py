"""Where a leg's RTP comes from and where ours may go: latching and proof. Layer 4 (channels).

One mechanism gives two properties:

* **Latching** (symmetric RTP, as RFC 4961 describes it): a phone behind a NAT sends from
  another address and port than its SDP names. We answer to where its packets really come
  from: the first source whose packets pass the checks (RTP version 2, a payload type of
  the negotiated set, and, for any address but the SDP's own, two packets in sequence from
  one SSRC: RFC 3550 A.1's probation) becomes the leg's destination. Sources rank: exactly
  the SDP's address, then the address the dialog's signalling came from (a phone behind a
  NAT that talks to us directly), then any other (a NATed phone behind a proxy). A
  better-ranked source that passes probation takes over; while learning, strangers'
  packets are never delivered. Learning opens at the answer and at every re-offer, and
  closes `window_s` after the first latch; from then on only the destination's packets
  count (a late stranger cannot take the call's media: the "RTP bleed" attack).
* **No media to an unproven address** (the security issue's reflection and amplification
  attack: an SDP naming a third party): nothing is sent before the dialog is confirmed
  (the ACK of our 2xx; for our own INVITEs, the peer's 2xx), and every packet is checked
  against the channel's amplification ledger (`protection.AmplificationGuard`): an address
  whose IP has proved itself in the signalling (it echoed our tag, registered, or answered
  us) gets media freely; any other gets at most `factor` times the bytes it sent us. A
  phone that sends RTP proves its address as it goes; a victim named in an SDP sends
  nothing, so it gets nothing.

Sans-IO: the RTP session calls `accept` for each packet and `destination` before each send.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from dipflow.channels.sip.events import Address
from dipflow.channels.sip.rtp import RtpPacket

log = logging.getLogger(__name__)

PROBATION = 2
"""Packets in sequence from one SSRC before a source is believed (RFC 3550 A.1 MIN_SEQUENTIAL)."""
COMFORT_NOISE = 13
"""RFC 3389 comfort noise: a peer doing silence suppression may send it among its audio."""


class Ledger(Protocol):
    """The channel's amplification ledger (`AmplificationGuard`), keyed by IP."""

    def received(self, key: str, size: int) -> None: ...

    def may_send(self, key: str, size: int) -> bool: ...

    def is_verified(self, key: str) -> bool: ...


class Rank(IntEnum):
    """How far a source is trusted to be the peer: a higher rank takes over a lower."""

    STALE = -1
    """The destination before a re-offer: any source that passes probation replaces it."""
    OTHER = 0
    SIGNALLING = 1
    SDP = 2


@dataclass(slots=True)
class _Candidate:
    source: Address
    ssrc: int
    sequence: int
    count: int


class MediaPeer:
    """The far end of one RTP session, as far as we can prove it."""

    def __init__(
        self, ledger: Ledger, *, window_s: float, signalling_ip: str | None = None
    ) -> None:
        self.ledger = ledger
        self.window_s = window_s
        self.sdp: Address | None = None
        self.signalling_ip = signalling_ip
        """The IP the leg's SIP comes from (or goes to, for our own INVITEs)."""
        self.payload_types: frozenset[int] = frozenset()
        self.latched: Address | None = None
        self.rank = Rank.STALE
        self.confirmed = False
        self._learning = True
        self._learn_until: float | None = None
        self._candidate: _Candidate | None = None
        self.withheld = 0
        """Packets we did not send because the destination has not proved itself."""
        self._free_ip: str | None = None
        """An IP the ledger has verified: its packets skip the ledger (a verified address
        stays verified), which spares two lookups on each packet of a call's media."""

    def expect(self, sdp: Address, payload_types: frozenset[int]) -> None:
        """The offer/answer named `sdp` (at the answer, and again at every re-offer)."""
        self.sdp = sdp
        self.payload_types = payload_types | {COMFORT_NOISE}
        self._learning = True
        self._learn_until = None
        self._candidate = None
        if self.latched is not None:
            self.rank = Rank.STALE  # kept until a source proves itself for the new offer

    def confirm(self) -> None:
        """The dialog is confirmed: media may flow (to a proven destination)."""
        self.confirmed = True

    def _rank(self, source: Address) -> Rank:
        if source == self.sdp:
            return Rank.SDP
        if source[0] == self.signalling_ip:
            return Rank.SIGNALLING
        return Rank.OTHER

    def accept(self, source: Address, packet: RtpPacket, size: int, now: float) -> bool:
        """Whether this packet is the peer's media (deliver it) or a stranger's (drop it)."""
        if source[0] != self._free_ip:
            self.ledger.received(source[0], size)
        if packet.payload_type not in self.payload_types:
            return False
        if self._learning and self._learn_until is not None and now >= self._learn_until:
            self._learning = False
            self._candidate = None
        if source == self.latched:
            return True
        if not self._learning:
            return False
        rank = self._rank(source)
        if self.latched is not None and rank <= self.rank:
            return False  # not better than what we have: never a way to steal the media
        # The SDP's own address is believed at once (what the signalling named); any
        # other must pass probation first.
        if rank is not Rank.SDP and not self._on_probation(source, packet):
            return False
        if rank is not Rank.SDP:
            sdp = self.sdp or ("", 0)
            log.info("RTP latched to %s:%s (the SDP named %s:%s)", *source, *sdp)
        self.latched, self.rank = source, rank
        self._candidate = None
        if self._learn_until is None:
            self._learn_until = now + self.window_s
        return True

    def settled(self, now: float) -> bool:
        """Latched, and no longer learning: no other source can take the media now (what
        lets the worker thin the leg's audio: a source on probation needs every packet)."""
        return self.latched is not None and (
            not self._learning or (self._learn_until is not None and now >= self._learn_until)
        )

    def _on_probation(self, source: Address, packet: RtpPacket) -> bool:
        """Count `packet` towards `source`'s probation; True once it has passed."""
        candidate = self._candidate
        if (
            candidate is not None
            and candidate.source == source
            and candidate.ssrc == packet.ssrc
            and packet.sequence == (candidate.sequence + 1) & 0xFFFF
        ):
            candidate.sequence = packet.sequence
            candidate.count += 1
        else:
            candidate = _Candidate(source, packet.ssrc, packet.sequence, 1)
            self._candidate = candidate
        return candidate.count >= PROBATION

    def destination(self, size: int) -> Address | None:
        """Where to send a packet of `size` bytes now; None: send nothing (not yet proven).
        A packet allowed is counted in the ledger."""
        if not self.confirmed:
            return None
        target = self.latched or self.sdp
        if target is None:
            return None
        ip = target[0]
        if ip == self._free_ip:
            return target
        if not self.ledger.may_send(ip, size):
            self.withheld += 1
            return None
        if self.ledger.is_verified(ip):
            self._free_ip = ip
        return target
