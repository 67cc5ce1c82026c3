"""The in-memory `CenterStore`: one `CenterCore` in this process. Layer 3 (center).

Each method runs the core synchronously, without awaiting in between, so on one
asyncio event loop every store operation is atomic. For several dipflow nodes use
`RedisCenterStore`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

from dipflow.center.config import CenterConfig
from dipflow.center.core import CenterCore
from dipflow.center.errors import CenterError
from dipflow.center.model import CenterSnapshot, Notification, QueueStatistics, QueueStatus
from dipflow.center.skills import RelaxationStep, SkillRequirement


class MemoryCenterStore:
    durable = False

    def __init__(self) -> None:
        self._core: CenterCore | None = None
        self._call_states: dict[str, str] = {}

    def bind(self, config: CenterConfig) -> None:
        """Bind once; binding again with the same configuration (a second service on the
        same store, as several nodes do on Redis) keeps the state."""
        if self._core is not None:
            if self._core.config != config:
                raise CenterError("the store is already bound to another configuration")
            return
        self._core = CenterCore(config)

    @property
    def core(self) -> CenterCore:
        """The sans-IO state machine (for tests and tools that want it synchronously)."""
        if self._core is None:
            raise CenterError("the store is not bound to a configuration yet (call bind)")
        return self._core

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
        return self.core.enqueue(
            call_id,
            queue,
            priority=priority,
            max_wait_s=max_wait_s,
            fallback_queue=fallback_queue,
            data=data,
            skills=skills,
            relaxation=relaxation,
            agent=agent,
            park=park,
            now=now,
        )

    async def abandon(self, call_id: str, *, now: float) -> list[Notification]:
        return self.core.abandon(call_id, now=now)

    async def login(
        self, agent_id: str, *, teams: Sequence[str] | None, now: float
    ) -> list[Notification]:
        return self.core.login(agent_id, teams=teams, now=now)

    async def logout(self, agent_id: str, *, now: float) -> list[Notification]:
        return self.core.logout(agent_id, now=now)

    async def set_available(self, agent_id: str, *, now: float) -> list[Notification]:
        return self.core.set_available(agent_id, now=now)

    async def set_idle(self, agent_id: str, reason: str, *, now: float) -> list[Notification]:
        return self.core.set_idle(agent_id, reason, now=now)

    async def accept(
        self, agent_id: str, call_id: str, *, now: float
    ) -> tuple[bool, list[Notification]]:
        return self.core.accept(agent_id, call_id, now=now)

    async def decline(self, agent_id: str, call_id: str, *, now: float) -> list[Notification]:
        return self.core.decline(agent_id, call_id, now=now)

    async def end_contact(self, call_id: str, *, now: float) -> list[Notification]:
        return self.core.end_contact(call_id, now=now)

    async def end_wrap_up(self, agent_id: str, *, now: float) -> list[Notification]:
        return self.core.end_wrap_up(agent_id, now=now)

    async def handle_timers(self, now: float) -> list[Notification]:
        return self.core.handle_timers(now)

    async def next_deadline(self) -> float | None:
        return self.core.next_deadline()

    async def snapshot(self, now: float) -> CenterSnapshot:
        return self.core.snapshot(now)

    async def queue_status(self, call_id: str, now: float) -> QueueStatus | None:
        return self.core.queue_status(call_id, now)

    async def queue_statistics(self, queue: str, call_id: str, now: float) -> QueueStatistics:
        return self.core.queue_statistics(queue, call_id, now)

    async def save_call_state(self, call_id: str, document: str) -> None:
        self._call_states[call_id] = document

    async def load_call_state(self, call_id: str) -> str | None:
        return self._call_states.get(call_id)

    async def delete_call_state(self, call_id: str) -> None:
        self._call_states.pop(call_id, None)

    async def aclose(self) -> None:
        return None

    async def remote_notifications(self) -> AsyncIterator[list[Notification]] | None:
        """One process, no other nodes: nothing to relay."""
        return None
