"""Abuse protection: per-source token buckets and the anti-amplification ledger. Layer 4 (channels).

Both tables are bounded LRU maps keyed by source IP, so a flood of spoofed
sources costs bounded memory (the oldest entries are forgotten).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
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
