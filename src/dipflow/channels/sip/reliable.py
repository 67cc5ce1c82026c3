"""Reliable provisional responses (RFC 3262, `100rel`), sans-IO. Layer 4 (channels).

When an INVITE says `Require: 100rel`, every provisional response but 100 is sent
reliably: it carries `Require: 100rel` and an `RSeq` (a random start, then +1 per
reliable provisional, §3), it is retransmitted from T1, doubling, until a PRACK names
it in its `RAck` (RSeq, CSeq number, method), and after 64*T1 without one the INVITE is
refused with a 5xx. A PRACK that names no reliable provisional of the dialog is answered
481. Only one is outstanding at a time (§3): we send at most one (180 while ringing),
and no SDP in it, so the 2xx need not wait for the PRACK; once the 2xx is sent the
provisional is no longer retransmitted.

A UAC that only *supports* 100rel gets ordinary provisionals: reliability costs a round
trip and we send a single 180 (the answer follows it), so we use it where it is required.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from dipflow.channels.sip.message import SipMessage

OPTION = "100rel"
SUPPORTED = "100rel, timer"
"""Our `Supported` (RFC 3262, RFC 4028): the extensions a request may require of us."""
KNOWN = frozenset({"100rel", "timer"})


def first_rseq() -> int:
    """§3: the first RSeq is chosen at random, between 1 and 2**31 - 1 (we keep it well
    below, so that +1 per provisional never overflows)."""
    return 1 + secrets.randbelow(2**30)


def stamp(response: SipMessage, rseq: int) -> None:
    response.headers.add("Require", OPTION)
    response.headers.add("RSeq", str(rseq))


@dataclass(frozen=True, slots=True, kw_only=True)
class RAck:
    rseq: int
    cseq: int
    method: str


def parse_rack(value: str | None) -> RAck | None:
    """`RAck: 776656 1 INVITE` (§7.2); None when absent or malformed."""
    parts = (value or "").split()
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    if len(parts[0]) > 10 or len(parts[1]) > 10:
        return None
    return RAck(rseq=int(parts[0]), cseq=int(parts[1]), method=parts[2].upper())


def acknowledges(prack: SipMessage, *, rseq: int, invite: SipMessage) -> bool:
    """Whether `prack`'s RAck names the reliable provisional `rseq` of `invite`."""
    rack = parse_rack(prack.headers.get("RAck"))
    return rack is not None and rack == RAck(rseq=rseq, cseq=invite.cseq[0], method="INVITE")
