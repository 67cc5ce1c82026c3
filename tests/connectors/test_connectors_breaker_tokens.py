"""Circuit breaker state machine and token cache, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from dipflow.connectors.breaker import BreakerState, CircuitBreaker
from dipflow.connectors.errors import AuthError
from dipflow.connectors.tokens import Token, TokenCache


async def settle() -> None:
    """Let started tasks and their done-callbacks run."""
    for _ in range(3):
        await asyncio.sleep(0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_consecutive_failures_only() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, open_s=10, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # resets the streak
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow() and breaker.short_circuited == 1
    assert breaker.retry_in() == pytest.approx(10)


def test_half_open_lets_one_probe_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, open_s=5, clock=clock)
    breaker.record_failure()
    clock.now += 5
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # a second caller during the probe fails fast
    breaker.record_failure()  # probe failed: open again for a full period
    assert breaker.state is BreakerState.OPEN
    clock.now += 5
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow() and breaker.allow()
    assert breaker.opened_count == 2


def test_hold_open_for_retry_after_and_disabled_breaker() -> None:
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)
    breaker.hold_open(30)
    assert not breaker.allow()
    clock.now += 29
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()
    off = CircuitBreaker(failure_threshold=1, enabled=False, clock=clock)
    for _ in range(10):
        off.record_failure()
    assert off.allow()


async def test_token_cache_single_flight_and_refresh_window() -> None:
    clock = Clock()
    fetched: list[bool] = []
    gate = asyncio.Event()

    async def fetch(force: bool) -> Token:
        fetched.append(force)
        await gate.wait()
        return Token(value=f"t{len(fetched)}", lifetime_s=3600)

    cache = TokenCache(fetch, clock=clock)
    waiters = [asyncio.create_task(cache.get()) for _ in range(20)]
    await settle()
    gate.set()
    assert set(await asyncio.gather(*waiters)) == {"t1"}
    assert cache.fetches == 1
    clock.now += 3600 - 300 - 1  # just before the refresh window
    assert await cache.get() == "t1" and cache.fetches == 1
    clock.now += 2  # inside it: current token served, refresh started
    assert await cache.get() == "t1"
    await settle()
    assert await cache.get() == "t2" and cache.fetches == 2
    cache.invalidate("not-the-current-token")
    assert await cache.get() == "t2"
    cache.invalidate("t2")
    assert await cache.get() == "t3"
    assert fetched == [False, False, True]  # only the 401 path bypasses lower caches
    await cache.aclose()


async def test_failed_background_refresh_keeps_the_valid_token() -> None:
    clock = Clock()
    calls = 0

    async def fetch(force: bool) -> Token:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise AuthError("IdP down")
        return Token(value=f"t{calls}", lifetime_s=600)

    cache = TokenCache(fetch, clock=clock)
    assert await cache.get() == "t1"
    clock.now += 350  # refresh window (last 300 s)
    assert await cache.get() == "t1"
    await settle()
    assert cache.refresh_failures == 1
    assert await cache.get() == "t1"  # still valid: served, another refresh started
    await settle()
    assert await cache.get() == "t3"
    clock.now += 10_000  # everything expired and the IdP refuses: the caller sees it
    calls = 1
    with pytest.raises(AuthError):
        await cache.get()
    await cache.aclose()


async def test_invalidating_right_after_a_background_refresh_fetches_anew() -> None:
    clock = Clock()
    count = 0

    async def fetch(force: bool) -> Token:
        nonlocal count
        count += 1
        return Token(value=f"t{count}", lifetime_s=600)

    cache = TokenCache(fetch, clock=clock)
    assert await cache.get() == "t1"
    clock.now += 400
    assert await cache.get() == "t1"  # starts the background refresh
    await asyncio.sleep(0)  # the refresh completes; its done-callback has not run yet
    cache.invalidate("t2")  # ...and the API refuses the new token at once
    assert await cache.get() == "t3"
    await cache.aclose()


async def test_aclose_stops_an_in_flight_fetch() -> None:
    started = asyncio.Event()
    stopped = asyncio.Event()

    async def fetch(force: bool) -> Token:
        started.set()
        try:
            await asyncio.Event().wait()  # an identity provider that never answers
        finally:
            stopped.set()
        raise AssertionError("unreachable")

    cache = TokenCache(fetch, clock=Clock())
    caller = asyncio.create_task(cache.get())
    await started.wait()
    await cache.aclose()
    assert stopped.is_set()
    with pytest.raises(asyncio.CancelledError):
        await caller  # the caller waiting on the shared fetch is not left hanging


async def test_aclose_does_not_swallow_its_own_cancellation() -> None:
    # A shutdown that is itself cancelled (a deadline on stopping the server) must end
    # cancelled, even while the fetch it waits for is still unwinding.
    started = asyncio.Event()
    release = asyncio.Event()

    async def fetch(force: bool) -> Token:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()  # slow clean-up (closing a connection)
            raise
        raise AssertionError("unreachable")

    cache = TokenCache(fetch, clock=Clock())
    refresh = asyncio.create_task(cache.get())
    await started.wait()
    closer = asyncio.create_task(cache.aclose())
    await settle()
    assert not closer.done()
    closer.cancel()
    await asyncio.wait([closer])
    assert closer.cancelled()
    release.set()
    await asyncio.wait([refresh])
    assert refresh.cancelled()
