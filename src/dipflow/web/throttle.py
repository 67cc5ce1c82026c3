"""The login throttle: every attempt counted before its password is checked, progressive
delays per client address and per username and address, never a lock on the user.
Layer 6 (web).

Why each choice:

- **Counted before the check, synchronously.** `admit` decides and records in one call
  with no `await` inside, so concurrent logins (all in flight while scrypt runs in worker
  threads) cannot all pass a check made before the first failure was recorded.
- **Per source, and per username and source; not per username.** A per-username lock
  lets anyone lock a real agent out with five bad passwords. Keyed by address, a guesser
  slows only themselves, and the agent at their own desk logs in.
- **Progressive delays, not a hard lock.** Past its free attempts a key must wait
  `first_delay_s`, then twice as long after each further attempt, up to `max_delay_s`:
  online guessing falls to a few attempts an hour while a mistyping human waits seconds.
- **IPv6 sources are grouped by /64**, the block one subscriber usually holds, so that
  rotating through one's own addresses does not reset the count.

In memory and per process; see docs/security.md.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass

from dipflow.runtime.websecurity import LoginThrottleSettings

MAX_KEYS = 20_000
"""Keys kept at most (a spray of names or addresses must not grow memory without bound)."""


@dataclass(slots=True)
class _Count:
    attempts: int
    last: float


def source_key(address: str) -> str:
    """The throttle's key for a client address: the address, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class LoginThrottle:
    def __init__(
        self,
        settings: LoginThrottleSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings if settings is not None else LoginThrottleSettings()
        self._clock = clock
        self._counts: dict[str, _Count] = {}

    def _keys(self, source: str, username: str) -> list[tuple[str, int]]:
        src = source_key(source)
        return [
            (f"src:{src}", self.settings.free_attempts_per_source),
            (f"usr:{username.lower()}|{src}", self.settings.free_attempts_per_user_and_source),
        ]

    def _delay(self, attempts: int, free: int) -> float:
        if attempts < free:
            return 0.0
        exponent = min(attempts - free, 32)
        return float(min(self.settings.max_delay_s, self.settings.first_delay_s * 2**exponent))

    def _current(self, key: str, now: float) -> _Count | None:
        count = self._counts.get(key)
        if count is not None and now - count.last > self.settings.forget_after_s:
            del self._counts[key]
            return None
        return count

    def admit(self, source: str, username: str) -> float:
        """Count an attempt and return 0 (check the password), or return the seconds to
        wait (nothing counted: a refused attempt checks no password)."""
        now = self._clock()
        keys = self._keys(source, username)
        wait = 0.0
        for key, free in keys:
            count = self._current(key, now)
            if count is not None:
                wait = max(wait, count.last + self._delay(count.attempts, free) - now)
        if wait > 0:
            return wait
        for key, _ in keys:
            count = self._current(key, now)
            if count is None:
                self._counts[key] = _Count(attempts=1, last=now)
            else:
                count.attempts += 1
                count.last = now
        self._bound(now)
        return 0.0

    def succeeded(self, source: str, username: str) -> None:
        """The password was right: the username's count from this address starts over, and
        the attempt no longer counts against the address (other users' failures still do)."""
        now = self._clock()
        source_entry, user_entry = self._keys(source, username)
        self._counts.pop(user_entry[0], None)
        count = self._current(source_entry[0], now)
        if count is not None:
            count.attempts = max(0, count.attempts - 1)

    def __len__(self) -> int:
        return len(self._counts)

    def _bound(self, now: float) -> None:
        if len(self._counts) <= MAX_KEYS:
            return
        horizon = now - self.settings.forget_after_s
        for key in [k for k, c in self._counts.items() if c.last < horizon]:
            del self._counts[key]
        if len(self._counts) > MAX_KEYS:  # still full of live keys: drop the oldest
            oldest = sorted(self._counts, key=lambda k: self._counts[k].last)
            for key in oldest[: len(self._counts) - MAX_KEYS]:
                del self._counts[key]
