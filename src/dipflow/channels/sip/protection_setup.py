"""The user agent's protections built from `SipSettings`, and the REGISTER decision.
Layer 4 (channels).

`registration_check` is the whole policy of an incoming REGISTER before its bindings are
touched: the lock-out (`lockout.py`) is consulted before the password is checked, the
digest answer is checked with replay protection (`registrar.py`), and its outcome is
counted, all in one synchronous step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, assert_never

from dipflow.channels.sip.lockout import AuthThrottle, LockoutPolicy
from dipflow.channels.sip.message import SipMessage
from dipflow.channels.sip.protection import SourceLimits, SourceProtection, TrustedPeers
from dipflow.channels.sip.registrar import AuthOutcome, Registrar
from dipflow.channels.sip.settings import SipSettings


def protection_for(settings: SipSettings) -> SourceProtection:
    limits = SourceLimits(
        invite_rate=settings.invite_rate_per_s,
        invite_burst=settings.invite_burst,
        garbage_rate=settings.garbage_rate_per_s,
        garbage_burst=settings.garbage_burst,
        penalty_s=settings.garbage_penalty_s,
        trusted_invite_rate=settings.trusted_invite_rate_per_s,
        trusted_invite_burst=settings.trusted_invite_burst,
        max_keys=settings.tracked_sources,
    )
    return SourceProtection(limits, TrustedPeers(settings.trusted_peers))


def lockout_policy(settings: SipSettings) -> LockoutPolicy:
    return LockoutPolicy(
        free_failures=settings.register_free_failures,
        base_s=settings.register_lockout_base_s,
        max_s=settings.register_lockout_max_s,
        forget_s=settings.register_lockout_forget_s,
        max_keys=settings.tracked_sources,
    )


class RegistrationParts(Protocol):
    """What the check needs of the user agent (`AgentCore` has these)."""

    registrar: Registrar
    throttle: AuthThrottle
    protection: SourceProtection
    stats: dict[str, int]


@dataclass(frozen=True, slots=True)
class Authenticated:
    user: str


def registration_check(
    parts: RegistrationParts, request: SipMessage, ip: str, now: float
) -> Authenticated | str | None:
    """`Authenticated`; or a WWW-Authenticate value to answer 401 with; or None: the
    attempt is locked out and gets no answer at all (nothing learned, nothing sent)."""
    registrar, throttle = parts.registrar, parts.throttle
    trusted = ip in parts.protection.trusted
    claimed = registrar.claimed_user(request)
    binding = registrar.lookup(claimed, now) if claimed else None
    known = binding is not None and binding.source[0] == ip
    locked = throttle.locked_for(
        user=claimed, ip=ip, now=now, known_source=known, trusted_source=trusted
    )
    if locked > 0:
        parts.stats["auth_throttled"] += 1
        return None
    result = registrar.authenticate(request, ip, now)
    match result.outcome:
        case AuthOutcome.OK:
            assert result.user is not None
            throttle.succeeded(user=result.user, ip=ip)
            return Authenticated(result.user)
        case AuthOutcome.MISSING:
            return registrar.challenge(ip, now)
        case AuthOutcome.STALE:
            return registrar.challenge(ip, now, stale=True)
        case AuthOutcome.FAILED | AuthOutcome.REPLAY:
            parts.stats[
                "auth_replays" if result.outcome is AuthOutcome.REPLAY else "auth_failures"
            ] += 1
            throttle.failed(user=result.user, ip=ip, now=now, trusted_source=trusted)
            return registrar.challenge(ip, now)
        case _:
            assert_never(result.outcome)
