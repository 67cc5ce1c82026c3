"""The SIP user agent's timers and their durations (RFC 3261 Table 4, RFC 6026). Layer 4 (channels).

Transactions run the RFC's lettered timers; a UAS dialog (`Leg`) runs two more for the
2xx it retransmits until the ACK arrives (§13.3.1.4). Durations derive from T1, T2 and
T4 (`SipSettings.t1_s`...): timers that only make up for lost datagrams are not run on
TCP (or run at 0 s: the transaction ends at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, assert_never


class SipTimer(StrEnum):
    TIMER_A = "A"
    """INVITE client: retransmit the INVITE (UDP), doubling each time (§17.1.1.2)."""
    TIMER_B = "B"
    """INVITE client: give up waiting for a response, 64*T1."""
    TIMER_D = "D"
    """INVITE client: absorb retransmitted non-2xx finals, 32 s (UDP) / 0 (TCP)."""
    TIMER_E = "E"
    """Non-INVITE client: retransmit the request (UDP), doubling up to T2 (§17.1.2.2)."""
    TIMER_F = "F"
    """Non-INVITE client: give up, 64*T1."""
    TIMER_G = "G"
    """INVITE server: retransmit the non-2xx final (UDP), doubling up to T2 (§17.2.1)."""
    TIMER_H = "H"
    """INVITE server: give up waiting for the ACK of the non-2xx final, 64*T1."""
    TIMER_I = "I"
    """INVITE server: absorb retransmitted ACKs, T4 (UDP) / 0 (TCP)."""
    TIMER_J = "J"
    """Non-INVITE server: absorb retransmitted requests, 64*T1 (UDP) / 0 (TCP) (§17.2.2)."""
    TIMER_K = "K"
    """Non-INVITE client: absorb retransmitted responses, T4 (UDP) / 0 (TCP)."""
    TIMER_L = "L"
    """INVITE server, after a 2xx: absorb retransmitted INVITEs, 64*T1 (RFC 6026 §7.1)."""
    TIMER_M = "M"
    """INVITE client, after a 2xx: absorb retransmitted 2xx, 64*T1 (RFC 6026 §8.4)."""
    RETRANSMIT_2XX = "2xx"
    """UAS dialog: retransmit our 2xx until the ACK (UDP), doubling up to T2 (§13.3.1.4)."""
    ACK_TIMEOUT = "ack"
    """UAS dialog: no ACK for our 2xx within 64*T1 - the session ends with a BYE (§13.3.1.4)."""
    RELIABLE_1XX = "rel1xx"
    """UAS dialog: retransmit a reliable provisional response until its PRACK, from T1,
    doubling (RFC 3262 §3)."""
    PRACK_TIMEOUT = "prack"
    """UAS dialog: no PRACK within 64*T1 - the INVITE is refused with a 5xx (RFC 3262 §3)."""
    SESSION_REFRESH = "refresh"
    """Dialog: we are the refresher - send the refresh at half the interval (RFC 4028 §10).
    Its duration is negotiated (`initial_delay` has none)."""
    SESSION_EXPIRY = "expiry"
    """Dialog: the peer refreshes - without a refresh by the interval minus min(32 s, a third
    of it), the session ends with a BYE (RFC 4028 §10). Negotiated duration."""


RETRANSMIT_TIMERS: Final = frozenset(
    {
        SipTimer.TIMER_A,
        SipTimer.TIMER_E,
        SipTimer.TIMER_G,
        SipTimer.RETRANSMIT_2XX,
        SipTimer.RELIABLE_1XX,
    }
)
"""Timers that resend a message: each run waits longer than the last (`backoff`)."""

TIMER_D_UDP_S: Final = 32.0
"""Timer D on UDP: "at least 32 seconds" (Table 4), the longest a retransmitted final
response can be under way."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """The base intervals of RFC 3261 §17.1.1.1 (defaults 0.5 s, 4 s, 5 s)."""

    t1: float
    """Round-trip estimate."""
    t2: float
    """Longest interval between retransmissions of a non-INVITE request or an INVITE response."""
    t4: float
    """Longest time a message lives in the network."""


def initial_delay(timer: SipTimer, timing: Timing, *, reliable: bool) -> float | None:
    """How long `timer` runs when started; None: not started on a reliable transport (or,
    for the session timers, only with the negotiated duration)."""
    t1 = timing.t1
    match timer:
        case (
            SipTimer.TIMER_A
            | SipTimer.TIMER_E
            | SipTimer.TIMER_G
            | SipTimer.RETRANSMIT_2XX
            | SipTimer.RELIABLE_1XX
        ):
            return None if reliable else t1
        case SipTimer.SESSION_REFRESH | SipTimer.SESSION_EXPIRY:
            return None
        case (
            SipTimer.TIMER_B
            | SipTimer.TIMER_F
            | SipTimer.TIMER_H
            | SipTimer.TIMER_L
            | SipTimer.TIMER_M
            | SipTimer.ACK_TIMEOUT
            | SipTimer.PRACK_TIMEOUT
        ):
            return 64 * t1
        case SipTimer.TIMER_D:
            return 0.0 if reliable else TIMER_D_UDP_S
        case SipTimer.TIMER_I | SipTimer.TIMER_K:
            return 0.0 if reliable else timing.t4
        case SipTimer.TIMER_J:
            return 0.0 if reliable else 64 * t1
        case _:
            assert_never(timer)


def backoff(timer: SipTimer, interval: float, timing: Timing) -> float:
    """The next interval of a retransmission timer that just fired after `interval`.

    Timer A and reliable provisionals double without bound (§17.1.1.2, RFC 3262 §3; timer B
    and the PRACK timeout end them); the others double up to T2.
    """
    if timer in (SipTimer.TIMER_A, SipTimer.RELIABLE_1XX):
        return 2 * interval
    return min(2 * interval, timing.t2)
