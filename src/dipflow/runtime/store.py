"""Where call state lives between steps: in memory, or in Redis for several nodes.

The engine's state is a JSON document (`CallState.to_json()`); the session saves
it after every step so that a call survives in the store (for inspection, and for
another node to pick up once the runtime grows fail-over).
"""

from __future__ import annotations

from typing import Protocol

FINISHED_TTL_S = 24 * 3600
"""How long a finished call's state stays in Redis (for the supervisor and post-mortems)."""


class CallStateStore(Protocol):
    async def save(self, call_id: str, state_json: str) -> None: ...

    async def load(self, call_id: str) -> str | None: ...

    async def finished(self, call_id: str) -> None:
        """The call is over: keep its last state for a while, then let it go."""
        ...

    async def aclose(self) -> None: ...


class MemoryCallStore:
    """Active calls in a dict; finished calls kept up to `keep_finished` (oldest dropped first)."""

    def __init__(self, *, keep_finished: int = 1000) -> None:
        self._states: dict[str, str] = {}
        self._finished: list[str] = []
        self._keep_finished = keep_finished

    async def save(self, call_id: str, state_json: str) -> None:
        self._states[call_id] = state_json

    async def load(self, call_id: str) -> str | None:
        return self._states.get(call_id)

    async def finished(self, call_id: str) -> None:
        self._finished.append(call_id)
        while len(self._finished) > self._keep_finished:
            self._states.pop(self._finished.pop(0), None)

    async def aclose(self) -> None:
        return None


class RedisCallStore:
    """`<prefix>call:<call_id>` -> state JSON; finished calls expire after `FINISHED_TTL_S`."""

    def __init__(self, url: str, *, prefix: str = "dipflow:") -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix

    def _key(self, call_id: str) -> str:
        return f"{self._prefix}call:{call_id}"

    async def save(self, call_id: str, state_json: str) -> None:
        await self._redis.set(self._key(call_id), state_json)

    async def load(self, call_id: str) -> str | None:
        value = await self._redis.get(self._key(call_id))
        return None if value is None else str(value)

    async def finished(self, call_id: str) -> None:
        await self._redis.expire(self._key(call_id), FINISHED_TTL_S)

    async def aclose(self) -> None:
        await self._redis.aclose()
