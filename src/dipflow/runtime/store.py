"""Where call state lives between steps: in memory, or in Redis for several nodes.

The engine's state is a JSON document (`CallState.to_json()`); the session saves
it after every step so that a call survives in the store (for inspection, and for
another node to pick up once the runtime grows fail-over). The runtime keeps it in
the contact center's store (`CenterCallStore`), memory or Redis as configured.
"""

from __future__ import annotations

from typing import Protocol

from dipflow.center.store import CenterStore


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


class CenterCallStore:
    """Call state kept in the contact center's store (memory or Redis), beside the queues:
    one Redis for everything when several nodes share calls."""

    def __init__(self, store: CenterStore) -> None:
        self._store = store

    async def save(self, call_id: str, state_json: str) -> None:
        await self._store.save_call_state(call_id, state_json)

    async def load(self, call_id: str) -> str | None:
        return await self._store.load_call_state(call_id)

    async def finished(self, call_id: str) -> None:
        await self._store.delete_call_state(call_id)

    async def aclose(self) -> None:
        return None  # the center closes its store
