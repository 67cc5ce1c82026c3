"""Who is calling: the caller's number and whether anybody vouches for it. Layer 4 (channels).

RFC 3325 §4: P-Asserted-Identity is meaningful only inside a trust domain. A carrier's
trunk or our own SBC asserts the caller's identity after checking it; anybody else can
write any number into From or P-Asserted-Identity. So the header is believed only from a
configured peer (`SipSettings.trusted_peers`) and ignored from everyone else (§5: an
identity from outside the trust domain is not used), and the call is marked *verified*
only when it came from a trusted peer. Flows decide what an unverified caller may hear
(`NewPhoneContact.ANIVerified`; the bundled flow greets them without a CRM lookup).
"""

from __future__ import annotations

from dataclasses import dataclass

from dipflow.channels.sip.builders import user_of
from dipflow.channels.sip.message import SipMessage

MAX_ID_CHARS = 256
"""ANI/DNIS are passed as data; cap their length so a hostile header cannot bloat state."""


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    ani: str
    verified: bool


def caller_identity(request: SipMessage, *, from_trusted_peer: bool) -> CallerIdentity:
    asserted = user_of(request.headers.get("P-Asserted-Identity")) if from_trusted_peer else ""
    ani = (asserted or user_of(request.headers.get("From")))[:MAX_ID_CHARS]
    return CallerIdentity(ani=ani, verified=from_trusted_peer)
