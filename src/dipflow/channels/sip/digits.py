"""Key presses by every route a phone may send them, and which route a call listens to.

Layer 4 (channels).

Phones send DTMF three ways: RFC 4733 telephone-events in the RTP stream, SIP INFO
requests (`application/dtmf-relay`, the de-facto format of Cisco and most PBXs:
`Signal=5` and `Duration=160` lines; or `application/dtmf`, whose body is the key), and
tones in the audio itself (in-band, detected by `dipflow.media.dtmf`). Some send the same
press two ways at once (INFO and RFC 4733 both), so a call listens to the first route a
digit arrives by and ignores the others from then on: a phone does not switch routes
within a call, and no press is counted twice. A signalled route (RFC 4733, INFO) takes
over from in-band tones, never the other way round.
"""

from __future__ import annotations

from enum import StrEnum

from dipflow.channels.sip.rtp import DtmfDigit

INFO_CONTENT_TYPES = ("application/dtmf-relay", "application/dtmf")
"""What an INFO may carry for us to take it as a key press (told in 415's Accept)."""

_EVENT_CODES = {str(code): digit for code, digit in enumerate(DtmfDigit)}
"""Some senders write the RFC 4733 event code (10 = *, 11 = #, 12-15 = A-D)."""


class DigitMethod(StrEnum):
    RFC4733 = "rfc4733"
    SIP_INFO = "sip-info"
    INBAND = "inband"


class InfoBodyError(ValueError):
    """An INFO of a DTMF content type whose body names no key."""


def is_dtmf_info(content_type: str | None) -> bool:
    return _media_type(content_type) in INFO_CONTENT_TYPES


def digit_of_info(content_type: str | None, body: bytes) -> DtmfDigit:
    """The key an INFO carries; `InfoBodyError` when its body names none."""
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise InfoBodyError("the DTMF INFO body is not ASCII") from exc
    if _media_type(content_type) == "application/dtmf":
        return _digit(text)
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip().lower() == "signal":
            return _digit(value.strip())
    raise InfoBodyError("no Signal= line in the dtmf-relay body")


def _digit(value: str) -> DtmfDigit:
    if value in _EVENT_CODES:
        return _EVENT_CODES[value]
    try:
        return DtmfDigit(value.upper())
    except ValueError:
        raise InfoBodyError(f"not a DTMF key: {value[:20]!r}") from None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


class DigitRoute:
    """Which route a call takes key presses from: the first one used (see the module)."""

    def __init__(self) -> None:
        self.method: DigitMethod | None = None
        self.ignored = 0
        """Presses that came by another route than the call's (duplicates, as a rule)."""

    def admit(self, method: DigitMethod) -> bool:
        if self.method is None or (
            self.method is DigitMethod.INBAND and method is not DigitMethod.INBAND
        ):
            # Signalled keys outrank heard ones: tones are guessed from the audio, and one
            # false detection must not make the call deaf to the phone's real keys.
            self.method = method
        if method is self.method:
            return True
        self.ignored += 1
        return False
