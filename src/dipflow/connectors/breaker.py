"""A per-connector circuit breaker (closed / open / half-open). Layer 3 (connectors).

During an outage every caller would otherwise wait out the whole HTTP budget
before taking the error branch. After `failure_threshold` consecutive failures
the breaker opens and calls fail in microseconds; after `open_s` one probe is
let through (half-open): success closes the breaker, failure re-opens it.
A throttling answer (429 with Retry-After) holds the breaker open for as long as
the server asked, as Dataverse's service protection limits require
(https://learn.microsoft.com/power-apps/developer/data-platform/api-limits).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Not thread-safe: used from one event loop."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        open_s: float = 10.0,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failure_threshold
        self._open_s = open_s
        self._enabled = enabled
        self._clock = clock
        self._failures = 0
        self._opened_until = 0.0
        self._state = BreakerState.CLOSED
        self._probe_in_flight = False
        self.opened_count = 0
        self.short_circuited = 0

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() >= self._opened_until:
            self._state = BreakerState.HALF_OPEN
            self._probe_in_flight = False
        return self._state

    def retry_in(self) -> float:
        """Seconds until the breaker lets a probe through (0 when not open)."""
        return (
            max(0.0, self._opened_until - self._clock()) if self.state is BreakerState.OPEN else 0.0
        )

    def allow(self) -> bool:
        """May a request go out now? In half-open, only one probe at a time."""
        if not self._enabled:
            return True
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        self.short_circuited += 1
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._state = BreakerState.CLOSED
        self._probe_in_flight = False

    def record_failure(self) -> None:
        if not self._enabled:
            return
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
            self._open(self._open_s)

    def hold_open(self, seconds: float) -> None:
        """Fail fast for `seconds` (the server asked us to back off)."""
        if self._enabled and seconds > 0:
            self._open(seconds)

    def release(self) -> None:
        """A request that was allowed ended without telling us about the service's health."""
        self._probe_in_flight = False

    def _open(self, seconds: float) -> None:
        if self._state is not BreakerState.OPEN:
            self.opened_count += 1
        self._state = BreakerState.OPEN
        self._opened_until = max(self._opened_until, self._clock() + seconds)
        self._probe_in_flight = False
