"""The state-store seam: everything the center knows lives behind `CenterStore`. Layer 3 (center).

Each method is ONE atomic step of the contact-center state machine: it validates,
changes queues/agents/contacts/timers, and returns the notifications it caused, in
order. Atomicity is per method: in memory because the method never awaits while it
changes state; in Redis because each method is one Lua script (see redis_store.py).
That is what makes assignment exactly-once across interleavings and across nodes.

Per-call state documents (opaque JSON text keyed by call id) are kept here too, so
that the runtime can keep a call's engine state next to its queue entry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol

from dipflow.center.config import CenterConfig
from dipflow.center.model import CenterSnapshot, Notification, QueueStatistics, QueueStatus
from dipflow.center.skills import RelaxationStep, SkillRequirement


class CenterStore(Protocol):
    durable: bool
    """True when the state outlives this process and is shared between machines (Redis):
    the service then defaults to a wall clock."""

    def bind(self, config: CenterConfig) -> None:
        """Give the store the configuration (queues, agents, timings). Called once, first."""
        ...

    async def enqueue(
        self,
        call_id: str,
        queue: str,
        *,
        priority: int,
        max_wait_s: float | None,
        fallback_queue: str | None,
        data: Mapping[str, str],
        skills: Sequence[SkillRequirement] = (),
        relaxation: Sequence[RelaxationStep] = (),
        agent: str | None = None,
        park: bool = False,
        now: float,
    ) -> list[Notification]:
        """Queue a contact; offers it at once if an agent is available. With `agent`, for
        that agent only (`AgentUnavailable` when logged out, or busy without `park`)."""
        ...

    async def abandon(self, call_id: str, *, now: float) -> list[Notification]:
        """The caller hung up: leave the queue, rescind the offer, or end the call."""
        ...

    async def login(
        self, agent_id: str, *, teams: Sequence[str] | None, now: float
    ) -> list[Notification]: ...

    async def logout(self, agent_id: str, *, now: float) -> list[Notification]: ...

    async def set_available(self, agent_id: str, *, now: float) -> list[Notification]: ...

    async def set_idle(self, agent_id: str, reason: str, *, now: float) -> list[Notification]: ...

    async def accept(
        self, agent_id: str, call_id: str, *, now: float
    ) -> tuple[bool, list[Notification]]:
        """True when this agent held this offer and now has the call."""
        ...

    async def decline(self, agent_id: str, call_id: str, *, now: float) -> list[Notification]: ...

    async def end_contact(self, call_id: str, *, now: float) -> list[Notification]: ...

    async def end_wrap_up(self, agent_id: str, *, now: float) -> list[Notification]: ...

    async def handle_timers(self, now: float) -> list[Notification]:
        """Fire every timer due at `now`: ring timeouts, maximum waits, wrap-ups."""
        ...

    async def next_deadline(self) -> float | None:
        """When the earliest timer is due; None when no timer is set."""
        ...

    async def snapshot(self, now: float) -> CenterSnapshot: ...

    async def queue_status(self, call_id: str, now: float) -> QueueStatus | None: ...

    async def queue_statistics(self, queue: str, call_id: str, now: float) -> QueueStatistics:
        """`queue`'s numbers as `call_id` sees them (`UnknownQueue` if not configured)."""
        ...

    async def save_call_state(self, call_id: str, document: str) -> None:
        """Store a call's state document (JSON text, opaque to the center)."""
        ...

    async def load_call_state(self, call_id: str) -> str | None: ...

    async def delete_call_state(self, call_id: str) -> None: ...

    async def aclose(self) -> None: ...

    async def remote_notifications(self) -> AsyncIterator[list[Notification]] | None:
        """Notifications that OTHER nodes' operations caused, for a shared store; None for
        a store only this process uses. The service relays them to its subscribers."""
        ...
