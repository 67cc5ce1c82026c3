"""Session timers (RFC 4028), sans-IO: what a UAS answers, and when a dialog is refreshed
or given up. Layer 4 (channels).

Carriers ask for them (`Supported: timer`, `Session-Expires`) so that a call whose far
end vanished without a BYE does not stay billed for ever. A request carries the interval
and who refreshes; the UAS answers with the interval it accepts (never below its
`Min-SE`: 422 with our Min-SE when the UAC asked for less and can retry, §9) and the
refresher (the UAC's choice, else the UAC when it supports timers, else us). The
refresher sends a re-INVITE or UPDATE at half the interval (§10); the other side ends
the session with a BYE when no refresh came by the interval minus min(32 s, a third).
Every refresh is negotiated as the first request was (§9: a refresh without
Session-Expires turns the timer off).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dipflow.channels.sip.message import SipMessage, parse_params


class Refresher(StrEnum):
    UAC = "uac"
    UAS = "uas"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionTimer:
    """A dialog's negotiated session timer."""

    interval: int
    """Session-Expires, seconds."""
    refresher: Refresher
    uac_supports: bool
    """The UAC said `Supported: timer` (then our 2xx says `Require: timer`, §9)."""
    we_refresh: bool
    """The refresher is us (the refresher is named by role: we are the UAS here)."""

    def header(self) -> str:
        return f"{self.interval};refresher={self.refresher.value}"

    def refresh_after(self) -> float:
        """When the refresher sends its refresh (§10: half the interval is RECOMMENDED)."""
        return self.interval / 2

    def expires_after(self) -> float:
        """When the other side gives up without a refresh (§10)."""
        return self.interval - min(32.0, self.interval / 3)


@dataclass(frozen=True, slots=True, kw_only=True)
class TooSmall:
    """The request asked for less than our Min-SE: answer 422 with it (§9)."""

    min_se: int


def options(request: SipMessage, header: str) -> set[str]:
    """The option tags of `Supported`/`Require` headers (lower case)."""
    tags: set[str] = set()
    for value in request.headers.get_all(header):
        tags.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tags


def _delta(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 9 else None


def negotiate(
    request: SipMessage, *, min_se: int, default_interval: int
) -> SessionTimer | TooSmall | None:
    """The timer a UAS applies for `request` (an INVITE, re-INVITE or UPDATE); None: no
    session timer (neither side asked: the UAC supports none and sent no interval)."""
    uac_supports = "timer" in options(request, "Supported") or "timer" in options(
        request, "Require"
    )
    value = request.headers.get("Session-Expires") or request.headers.get("x")
    requested: int | None = None
    refresher: Refresher | None = None
    if value:
        number, _, params = value.partition(";")
        requested = _delta(number)
        chosen = parse_params(params).get("refresher", "").lower()
        refresher = Refresher(chosen) if chosen in ("uac", "uas") else None
    their_min = _delta(request.headers.get("Min-SE") or "") or 0
    floor = max(min_se, their_min)
    if requested is None:
        if not uac_supports:
            return None  # an old phone, no proxy asked for a timer: none (§9)
        requested = max(default_interval, floor)
    elif requested < min_se:
        if uac_supports:
            return TooSmall(min_se=floor)
        requested = floor  # the UAC cannot retry (a proxy added the header): raise it (§9)
    if refresher is None:
        refresher = Refresher.UAC if uac_supports else Refresher.UAS
    return SessionTimer(
        interval=requested,
        refresher=refresher,
        uac_supports=uac_supports,
        we_refresh=refresher is Refresher.UAS,
    )


def stamp(response: SipMessage, timer: SessionTimer) -> None:
    """The 2xx's session timer headers (§9): the interval, and `Require: timer` when the
    UAC supports it (it must refresh or know that we do)."""
    response.headers.add("Session-Expires", timer.header())
    if timer.uac_supports:
        response.headers.add("Require", "timer")


def refresh_headers(request: SipMessage, timer: SessionTimer, *, min_se: int) -> None:
    """Our refresh request's headers (§7.4). Roles are those of the refresh transaction, in
    which we are the UAC: we stay the refresher, so `refresher=uac`."""
    request.headers.add("Session-Expires", f"{timer.interval};refresher=uac")
    request.headers.add("Min-SE", str(min_se))
    request.headers.add("Supported", "timer")
