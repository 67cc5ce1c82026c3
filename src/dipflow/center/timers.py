"""Deadlines for the sans-IO core: ring timeouts, maximum waits, wrap-ups."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass(slots=True)
class Timers:
    """Deadlines keyed by (kind, id); a heap with lazy deletion keeps next_deadline cheap."""

    due: dict[tuple[str, str], float] = field(default_factory=dict)
    heap: list[tuple[float, str, str]] = field(default_factory=list)

    def set(self, kind: str, key: str, deadline: float) -> None:
        self.due[(kind, key)] = deadline
        heapq.heappush(self.heap, (deadline, kind, key))

    def cancel(self, kind: str, key: str) -> None:
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

    def pop_due(self, now: float) -> tuple[str, str] | None:
        self._drop_stale()
        if not self.heap or self.heap[0][0] > now:
            return None
        _, kind, key = heapq.heappop(self.heap)
        del self.due[(kind, key)]
        return kind, key
