"""Abuse protection: per-source token buckets, the penalty box, configured (trusted) peers
and the anti-amplification ledger. Layer 4 (channels).

Every table is a bounded LRU map keyed by source IP, so a flood of spoofed sources costs
bounded memory (the oldest entries are forgotten).
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per key: `rate` tokens per second, at most `burst` saved."""

    def __init__(self, *, rate: float, burst: int, max_keys: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def allow(self, key: str, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(tokens=self.burst, updated=now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        return False

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass(slots=True)
class _Ledger:
    received: int = 0
    sent: int = 0
    verified: bool = False


class AmplificationGuard:
    """Never send an unverified source more than `factor` times what it sent us.

    A source address is verified when it proves it receives what we send there:
    it echoes the To-tag of one of our responses (ACK, BYE) or answers a request we
    sent. Until then a spoofed source cannot make us flood a victim.
    """

    def __init__(self, *, factor: float, max_keys: int) -> None:
        self.factor = factor
        self.max_keys = max_keys
        self._ledgers: OrderedDict[str, _Ledger] = OrderedDict()
        self.on_verify: Callable[[str], None] | None = None
        """Told of each newly verified key (the SIP media worker keeps its own ledger)."""

    def _ledger(self, key: str) -> _Ledger:
        ledger = self._ledgers.get(key)
        if ledger is None:
            ledger = _Ledger()
            self._ledgers[key] = ledger
            if len(self._ledgers) > self.max_keys:
                self._ledgers.popitem(last=False)
        else:
            self._ledgers.move_to_end(key)
        return ledger

    def received(self, key: str, size: int) -> None:
        self._ledger(key).received += size

    def verify(self, key: str) -> None:
        ledger = self._ledger(key)
        if not ledger.verified and self.on_verify is not None:
            self.on_verify(key)
        ledger.verified = True

    def is_verified(self, key: str) -> bool:
        ledger = self._ledgers.get(key)
        return ledger is not None and ledger.verified

    def may_send(self, key: str, size: int) -> bool:
        """Account for `size` bytes to `key`; False (and nothing counted) when over budget."""
        ledger = self._ledger(key)
        if not ledger.verified and ledger.sent + size > self.factor * ledger.received:
            return False
        ledger.sent += size
        return True

    def __len__(self) -> int:
        return len(self._ledgers)


class TrustedPeers:
    """The configured peers (carrier trunks, SBCs, proxies) as IP networks.

    Membership of a source address is cached in a bounded map: the check runs on every
    datagram, and parsing an address costs more than the lookup."""

    def __init__(self, specs: Iterable[str], *, max_cached: int = 4096) -> None:
        self.networks = tuple(ipaddress.ip_network(spec, strict=False) for spec in specs)
        self._cache: OrderedDict[str, bool] = OrderedDict()
        self._max_cached = max_cached

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, str) or not self.networks:
            return False
        known = self._cache.get(ip)
        if known is not None:
            return known
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            trusted = False
        else:
            trusted = any(address in network for network in self.networks)
        self._cache[ip] = trusted
        if len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)
        return trusted

    def __bool__(self) -> bool:
        return bool(self.networks)


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceLimits:
    """The per-source numbers of `SourceProtection` (from `SipSettings`)."""

    invite_rate: float
    invite_burst: int
    garbage_rate: float
    garbage_burst: int
    penalty_s: float
    trusted_invite_rate: float
    trusted_invite_burst: int
    max_keys: int


class SourceProtection:
    """Per-source rate limits and the penalty box, with configured peers set apart.

    An address that sends garbage beyond its bucket is ignored for `penalty_s`. Anybody
    can send datagrams with a forged source address, so that penalty would let 25 spoofed
    datagrams silence a carrier's SBC: configured peers are never penalised (their
    garbage is dropped and counted, nothing more) and their INVITEs draw on their own,
    larger buckets, one per address and port, so a flood from other sources, or from a
    forged copy of the trunk's address on another port, does not use up the trunk's."""

    def __init__(self, limits: SourceLimits, trusted: TrustedPeers) -> None:
        self.limits = limits
        self.trusted = trusted
        self.invites = RateLimiter(
            rate=limits.invite_rate, burst=limits.invite_burst, max_keys=limits.max_keys
        )
        self.trusted_invites = RateLimiter(
            rate=limits.trusted_invite_rate, burst=limits.trusted_invite_burst,
            max_keys=limits.max_keys,
        )  # fmt: skip
        self.garbage_bucket = RateLimiter(
            rate=limits.garbage_rate, burst=limits.garbage_burst, max_keys=limits.max_keys
        )
        self._penalty: OrderedDict[str, float] = OrderedDict()

    def penalised(self, ip: str, now: float) -> bool:
        """Whether everything from `ip` is ignored right now."""
        until = self._penalty.get(ip)
        if until is None:
            return False
        if now < until:
            return True
        del self._penalty[ip]
        return False

    def garbage(self, ip: str, now: float) -> None:
        """`ip` sent something we could not parse: penalise it once over its bucket."""
        if ip in self.trusted:
            return
        if not self.garbage_bucket.allow(ip, now):
            self._penalty[ip] = now + self.limits.penalty_s
            self._penalty.move_to_end(ip)
            if len(self._penalty) > self.limits.max_keys:
                self._penalty.popitem(last=False)

    def allow_invite(self, source: tuple[str, int], now: float) -> bool:
        ip = source[0]
        if ip in self.trusted:
            return self.trusted_invites.allow(f"{ip}|{source[1]}", now)
        return self.invites.allow(ip, now)

    def penalties(self) -> int:
        return len(self._penalty)
