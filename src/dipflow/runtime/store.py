"""Where call state lives between steps: in memory, or in Redis for several nodes.

The engine's state is a JSON document (`CallState.to_json()`); the session saves
it whenever it is about to wait for the next event (once per burst of queued events)
so that a call survives in the store (for inspection, and for
another node to pick up once the runtime grows fail-over). The runtime keeps it in
the contact center's store (`CenterCallStore`), memory or Redis as configured.
Layer 5 (runtime).
"""

from __future__ import annotations

from typing import Protocol

from dipflow.center.store import CenterStore


class CallStateStore(Protocol):
    async def save(self, call_id: str, state_json: str) -> None: ...

    async def load(self, call_id: str) -> str | None: ...

    async def finished(self, call_id: str) -> None:
        """The call is over: its state may go (the runtime keeps a summary in memory)."""
        ...

    async def aclose(self) -> None: ...


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
