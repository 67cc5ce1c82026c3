"""A bearer-token cache with single-flight fetches and proactive refresh. Layer 3 (connectors).

One token per connector, fetched once and reused by every call until it nears
expiry: a call never waits for a token request except the very first one (or
after a 401). Shortly before expiry the next call starts a refresh in the
background and still uses the current, valid token, so the refresh never sits on
a caller's critical path. Concurrent callers share one in-flight fetch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

DEFAULT_REFRESH_MARGIN_S = 300.0
"""Refresh this long before expiry (MSAL treats tokens within 5 minutes of expiry as
expired)."""
_EXPIRY_SAFETY_S = 1.0
"""A token this close to expiry (at most a tenth of its life) is not sent any more."""


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    lifetime_s: float
    """`expires_in` from the token response."""


@dataclass(frozen=True, slots=True)
class _Held:
    value: str
    refresh_at: float
    usable_until: float


TokenFetcher = Callable[[bool], Awaitable[Token]]
"""Fetch a new token; the flag asks to bypass any lower cache (after a 401)."""


class TokenCache:
    def __init__(
        self,
        fetch: TokenFetcher,
        *,
        refresh_margin_s: float = DEFAULT_REFRESH_MARGIN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._margin = refresh_margin_s
        self._clock = clock
        self._held: _Held | None = None
        self._task: asyncio.Task[_Held] | None = None
        self._force_next = False
        self.fetches = 0
        self.refresh_failures = 0

    def _start(self) -> asyncio.Task[_Held]:
        # A finished task may still be registered until its done-callback runs: never
        # hand out its (possibly invalidated) result.
        if self._task is None or self._task.done():
            force, self._force_next = self._force_next, False
            self._task = asyncio.get_running_loop().create_task(self._run(force))
            self._task.add_done_callback(self._done)
        return self._task

    async def _run(self, force: bool) -> _Held:
        started = self._clock()
        self.fetches += 1
        token = await self._fetch(force)
        lifetime = max(0.0, token.lifetime_s)
        # Short-lived tokens (tests, some IdPs) refresh at half life.
        margin = min(self._margin, lifetime / 2)
        held = _Held(
            value=token.value,
            refresh_at=started + lifetime - margin,
            usable_until=started + lifetime - min(_EXPIRY_SAFETY_S, lifetime / 10),
        )
        self._held = held
        return held

    def _done(self, task: asyncio.Task[_Held]) -> None:
        if self._task is task:
            self._task = None
        if not task.cancelled() and task.exception() is not None:
            self.refresh_failures += 1
            log.info("token fetch failed: %s", task.exception())

    async def get(self) -> str:
        """A valid token, fetching only when there is none (or it expired)."""
        held = self._held
        now = self._clock()
        if held is not None and now < held.refresh_at:
            return held.value
        if held is not None and now < held.usable_until:
            self._start()  # proactive refresh, off the caller's path
            return held.value
        task = self._start()
        # shield: a caller whose budget runs out must not cancel the fetch others share.
        return (await asyncio.shield(task)).value

    def invalidate(self, value: str) -> None:
        """The API refused `value` (401): forget it, and bypass lower caches next time."""
        if self._held is not None and self._held.value == value:
            self._held = None
            self._force_next = True

    @property
    def has_token(self) -> bool:
        return self._held is not None

    async def aclose(self) -> None:
        """Stop an in-flight fetch and wait for it to unwind.

        `asyncio.wait` rather than `await task`: the fetch's own end (cancelled, or failed:
        `_done` has counted and logged that) is not ours to raise, but a cancellation of the
        caller of `aclose` still propagates."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
