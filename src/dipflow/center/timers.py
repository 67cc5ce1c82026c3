"""Deadlines for the sans-IO core: ring timeouts, maximum waits, wrap-ups. Layer 3 (center)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from enum import StrEnum


class TimerKind(StrEnum):
    """The center's timers. The values are also the member prefixes of the Redis timer set
    (`ring|<call>`, `wait|<call>`, `wrap|<agent>`, `relax|<call>` in center.lua): keep them
    in step. No value may be a prefix of another, so that both stores fire timers due at
    the same time in the same order (the heap compares kind then key, Redis the member)."""

    RING = "ring"
    """An offer rings at an agent for at most the queue's `ring_timeout_s` (keyed by call)."""
    WAIT = "wait"
    """A contact waits at most its `max_wait_s` in a queue (keyed by call)."""
    WRAP = "wrap"
    """An agent's after-call work lasts `wrap_up_s` (keyed by agent)."""
    RELAX = "relax"
    """The next skill relaxation step of a contact is due (keyed by call)."""


@dataclass(slots=True)
class Timers:
    """Deadlines keyed by (kind, id); a heap with lazy deletion keeps next_deadline cheap."""

    due: dict[tuple[TimerKind, str], float] = field(default_factory=dict)
    heap: list[tuple[float, TimerKind, str]] = field(default_factory=list)

    def set(self, kind: TimerKind, key: str, deadline: float) -> None:
        self.due[(kind, key)] = deadline
        heapq.heappush(self.heap, (deadline, kind, key))

    def cancel(self, kind: TimerKind, key: str) -> None:
        self.due.pop((kind, key), None)

    def _drop_stale(self) -> None:
        while self.heap:
            deadline, kind, key = self.heap[0]
            if self.due.get((kind, key)) == deadline:
                return
            heapq.heappop(self.heap)

    def next_deadline(self) -> float | None:
        self._drop_stale()
        return self.heap[0][0] if self.heap else None

    def pop_due(self, now: float) -> tuple[TimerKind, str] | None:
        self._drop_stale()
        if not self.heap or self.heap[0][0] > now:
            return None
        _, kind, key = heapq.heappop(self.heap)
        del self.due[(kind, key)]
        return kind, key
