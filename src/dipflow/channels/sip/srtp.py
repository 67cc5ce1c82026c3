"""SRTP (RFC 3711) keyed by SDES (RFC 4568), through libsrtp (pylibsrtp). Layer 4 (channels).

Keys travel in the SDP (`a=crypto:<tag> <suite> inline:<base64 key||salt>`), so they are
only as secret as the signalling: we never offer or accept them unless the call's SIP
runs over TLS (RFC 4568 §8.3). A policy says what a call does (per trunk; for other calls
over TLS, the TLS listener's):

* `mandatory`: offer `RTP/SAVP` with keys; accept only an offer with a usable key
  (else 488); an answer without one ends the call;
* `optional`: offer `RTP/AVP` with keys ("best effort", which baresip's `srtp` and most
  SBCs understand); accept either; encrypt whenever the peer gave a key;
* `off`: plain RTP; an `RTP/SAVP` offer (which demands SRTP) is refused with 488.

Suites: AES_CM_128_HMAC_SHA1_80 (preferred) and AES_CM_128_HMAC_SHA1_32, each with a
fresh 30-byte master key and salt per call and direction. Lines with an MKI, a key
lifetime below 2^20 packets (5.8 hours of 20 ms packets: we never re-key) or session
parameters are skipped (we could not honour them).
`SrtpContext` is built from plain values (suite name and two keys), so the process that
owns the RTP socket can build it.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from dataclasses import dataclass
from typing import Literal

from pylibsrtp import Error as SrtpLibError
from pylibsrtp import Policy, Session

log = logging.getLogger(__name__)

SrtpPolicy = Literal["off", "optional", "mandatory"]
SUITES = {
    "AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}
KEY_BYTES = 30
"""128-bit master key and 112-bit master salt (RFC 4568 §6.2.1)."""
PLAIN, SECURE = "RTP/AVP", "RTP/SAVP"


class SrtpError(ValueError):
    """A crypto attribute we cannot use."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CryptoLine:
    """One `a=crypto` attribute (RFC 4568 §9.1), reduced to what we support."""

    tag: int
    suite: str
    key: bytes
    """Master key followed by master salt (30 bytes)."""

    @classmethod
    def parse(cls, attribute: str) -> CryptoLine:
        """`1 AES_CM_128_HMAC_SHA1_80 inline:KEY[|lifetime]` (the part after `crypto:`)."""
        fields = attribute.split()
        if len(fields) != 3 or not fields[0].isdigit() or len(fields[0]) > 9:
            raise SrtpError("a crypto line has a tag, a suite and key parameters only")
        suite = fields[1].upper()
        if suite not in SUITES:
            raise SrtpError(f"unsupported crypto suite {fields[1][:40]!r}")
        params = fields[2].split(";")
        if len(params) != 1 or not params[0].startswith("inline:"):
            raise SrtpError("one inline key expected")
        key_text, *extras = params[0][len("inline:") :].split("|")
        for extra in extras:
            if ":" in extra:
                raise SrtpError("MKI is not supported")
            if not _long_lifetime(extra):
                raise SrtpError("a key lifetime shorter than 2^20 packets")
        try:
            key = base64.b64decode(key_text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SrtpError("the key is not base64") from exc
        if len(key) != KEY_BYTES:
            raise SrtpError(f"a {len(key)}-byte key (expected {KEY_BYTES})")
        return cls(tag=int(fields[0]), suite=suite, key=key)

    def attribute(self) -> str:
        return f"{self.tag} {self.suite} inline:{base64.b64encode(self.key).decode()}"


def _long_lifetime(text: str) -> bool:
    if text.startswith("2^"):
        exponent = text[2:]
        return exponent.isdigit() and int(exponent) >= 20
    return text.isdigit() and len(text) < 20 and int(text) >= 2**20


def new_line(tag: int, suite: str) -> CryptoLine:
    return CryptoLine(tag=tag, suite=suite, key=secrets.token_bytes(KEY_BYTES))


class SrtpContext:
    """Both directions of one call leg: `protect` what we send, `unprotect` what we get."""

    def __init__(self, suite: str, local_key: bytes, remote_key: bytes, tag: int = 1) -> None:
        profile = SUITES[suite]
        self.tag = tag
        self.suite = suite
        self.local_key = local_key
        self.remote_key = remote_key
        self._tx = Session(Policy(key=local_key, ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                                  srtp_profile=profile))  # fmt: skip
        self._rx = Session(Policy(key=remote_key, ssrc_type=Policy.SSRC_ANY_INBOUND,
                                  srtp_profile=profile))  # fmt: skip
        self.rejected = 0
        """Packets that failed authentication or replay checks (dropped)."""

    def protect(self, packet: bytes) -> bytes:
        return self._tx.protect(packet)

    def unprotect(self, packet: bytes) -> bytes | None:
        try:
            return self._rx.unprotect(packet)
        except SrtpLibError:
            self.rejected += 1  # forged, replayed or corrupted: never played
            return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Plain:
    """Plain RTP (answer `RTP/AVP` without keys)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Secured:
    """SRTP: answer with `profile` and our `line`; `context` encrypts the leg."""

    profile: str
    line: CryptoLine
    context: SrtpContext


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    reason: str


Decision = Plain | Secured | Refused


def _usable(attributes: tuple[str, ...]) -> list[CryptoLine]:
    usable: list[CryptoLine] = []
    for attribute in attributes:
        try:
            usable.append(CryptoLine.parse(attribute))
        except SrtpError as exc:
            log.debug("crypto line skipped: %s", exc)
    return usable


def answer_offer(
    profile: str, attributes: tuple[str, ...], policy: SrtpPolicy, *, secure_transport: bool
) -> Decision:
    """How to answer an offer of `profile` with `attributes` (its crypto lines)."""
    secure_profile = profile.upper() == SECURE
    if not secure_transport:
        if secure_profile:
            return Refused(reason="SRTP keys offered over an unencrypted transport")
        if policy == "mandatory":
            return Refused(reason="SRTP is mandatory and needs SIP over TLS")
        return Plain()  # best-effort keys over UDP/TCP are ignored, never answered
    lines = _usable(attributes)
    if policy == "off" or not lines:
        if secure_profile:
            why = "SRTP is off" if policy == "off" else "RTP/SAVP offered without a usable key"
            return Refused(reason=why)
        if policy == "mandatory":
            return Refused(reason="SRTP is mandatory and the offer has no usable key")
        return Plain()
    chosen = min(lines, key=lambda line: list(SUITES).index(line.suite))  # _80 before _32
    ours = new_line(chosen.tag, chosen.suite)
    return Secured(
        profile=SECURE if secure_profile else PLAIN, line=ours,
        context=SrtpContext(chosen.suite, ours.key, chosen.key, chosen.tag),
    )  # fmt: skip


def answer_reoffer(
    current: SrtpContext | None,
    profile: str,
    attributes: tuple[str, ...],
    policy: SrtpPolicy,
    *,
    secure_transport: bool,
) -> Decision:
    """A re-INVITE (hold, resume) on a leg: when the peer kept its key for the line in
    use, keep the context (and answer with our key again, RFC 4568 §7.1.4); otherwise
    decide as for a new offer."""
    if current is not None and secure_transport:
        for line in _usable(attributes):
            if (line.tag, line.suite, line.key) == (current.tag, current.suite, current.remote_key):
                ours = CryptoLine(tag=line.tag, suite=line.suite, key=current.local_key)
                secure = profile.upper() == SECURE
                return Secured(profile=SECURE if secure else PLAIN, line=ours, context=current)
    return answer_offer(profile, attributes, policy, secure_transport=secure_transport)


def call_policy(trunk_policy: SrtpPolicy | None, listener_policy: SrtpPolicy | None,
                transport: str) -> SrtpPolicy:  # fmt: skip
    """The policy of one call: its trunk's; else, over TLS, the TLS listener's; else off."""
    if trunk_policy is not None:
        return trunk_policy
    if transport == "tls" and listener_policy is not None:
        return listener_policy
    return "off"


@dataclass(frozen=True, slots=True, kw_only=True)
class OurOffer:
    """What we offer: `profile` and our `lines` (none for plain RTP)."""

    profile: str
    lines: tuple[CryptoLine, ...]

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(line.attribute() for line in self.lines)


def our_offer(policy: SrtpPolicy, *, secure_transport: bool) -> OurOffer:
    if policy == "off" or not secure_transport:
        return OurOffer(profile=PLAIN, lines=())
    lines = tuple(new_line(tag, suite) for tag, suite in enumerate(SUITES, start=1))
    return OurOffer(profile=SECURE if policy == "mandatory" else PLAIN, lines=lines)


def accept_answer(offer: OurOffer, attributes: tuple[str, ...]) -> Decision:
    """The peer's answer to `offer`: SRTP with the line it picked, plain, or unusable."""
    if not offer.lines:
        return Plain()
    ours = {line.tag: line for line in offer.lines}
    for line in _usable(attributes):
        mine = ours.get(line.tag)
        if mine is not None and mine.suite == line.suite:
            context = SrtpContext(line.suite, mine.key, line.key, line.tag)
            return Secured(profile=offer.profile, line=mine, context=context)
    if offer.profile == SECURE:
        return Refused(reason="the answer has no key for any of our crypto lines")
    return Plain()
