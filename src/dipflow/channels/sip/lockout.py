"""Progressive delays after failed REGISTER authentications. Layer 4 (channels).

Guessing an agent's password is throttled on two keys at once:

* the **source address**: after `free_failures` wrong answers from one IP, each further
  one locks that IP out for twice as long as the last (`base_s`, 2·`base_s`, ... up to
  `max_s`); a locked source is not answered at all, so a guesser learns nothing and
  costs us nothing;
* the **user**: the same progression, counted over every source, so that guesses spread
  over many addresses are slowed down too;
* the **user at that source**, the same again.

A per-user (or per-address) lock alone would let anybody lock the real agent out (issue
11, item 12), so the source's and the user's locks do not apply to the address the
user's current registration came from: the agent's own phone keeps re-registering while
somebody else is locked out of guessing. Only the user-at-source lock holds there (an
attacker behind the same NAT as the agent guesses at that pace too).

Counting is done before the answer leaves, in the same synchronous step as the password
check (the user agent is sans-IO and single-threaded), so concurrent guesses cannot all
be checked before the first failure is counted. A success clears the source's count
and the user's. Every table is a bounded LRU map.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LockoutPolicy:
    free_failures: int
    """Failures allowed before delays start."""
    base_s: float
    """The first lock; each further failure doubles it."""
    max_s: float
    """The longest lock."""
    forget_s: float
    """A key with no failure for this long starts from zero again."""
    max_keys: int


class _Counter:
    def __init__(self, policy: LockoutPolicy) -> None:
        self.policy = policy
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def _get(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is None:
            return None
        if now >= record.locked_until and now - record.last_failure > self.policy.forget_s:
            del self._records[key]
            return None
        return record

    def locked_for(self, key: str, now: float) -> float:
        """Seconds `key` stays locked (0: not locked)."""
        record = self._get(key, now)
        return max(0.0, record.locked_until - now) if record is not None else 0.0

    def failure(self, key: str, now: float) -> None:
        record = self._get(key, now)
        if record is None:
            record = _Record()
            self._records[key] = record
            if len(self._records) > self.policy.max_keys:
                self._records.popitem(last=False)
        else:
            self._records.move_to_end(key)
        record.failures += 1
        record.last_failure = now
        over = record.failures - self.policy.free_failures
        if over > 0:
            delay = min(self.policy.max_s, self.policy.base_s * 2 ** min(over - 1, 30))
            record.locked_until = now + delay

    def clear(self, key: str) -> None:
        self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)


class AuthThrottle:
    """Is this authentication attempt allowed now, and what followed from it."""

    def __init__(self, policy: LockoutPolicy) -> None:
        self.by_source = _Counter(policy)
        self.by_user = _Counter(policy)
        self.by_pair = _Counter(policy)

    def locked_for(
        self, *, user: str | None, ip: str, now: float, known_source: bool, trusted_source: bool
    ) -> float:
        """Seconds before this attempt may be checked (0: check it now).

        `known_source`: `ip` is where `user`'s live registration came from; that phone is
        exempt from the source's and the user's locks (somebody else's guessing must not
        take a working phone off the air), not from the lock of this user at this address.
        `trusted_source`: a configured peer (a proxy in front of many phones), exempt from
        the per-source lock only."""
        wait = 0.0
        if not (trusted_source or known_source):
            wait = self.by_source.locked_for(ip, now)
        if user:
            wait = max(wait, self.by_pair.locked_for(f"{user}|{ip}", now))
            if not known_source:
                wait = max(wait, self.by_user.locked_for(user, now))
        return wait

    def failed(self, *, user: str | None, ip: str, now: float, trusted_source: bool) -> None:
        if not trusted_source:
            self.by_source.failure(ip, now)
        if user:
            self.by_user.failure(user, now)
            self.by_pair.failure(f"{user}|{ip}", now)

    def succeeded(self, *, user: str, ip: str) -> None:
        self.by_source.clear(ip)
        self.by_user.clear(user)
        self.by_pair.clear(f"{user}|{ip}")

    def __len__(self) -> int:
        return len(self.by_source) + len(self.by_user) + len(self.by_pair)
