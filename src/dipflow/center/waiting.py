"""The waiting lists of the contact center's queues, in offer order. Layer 3 (center).

Per queue, a sorted list of `(score, call_id)`: the head is the next contact to offer.
`bisect` keeps every insertion and removal O(log n) plus a memmove-fast shift, which is
what lets the core answer any event in bounded time (see `core`). The score orders by
priority, then arrival; `redis_lua.py` keeps the same scores in a sorted set.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator

SEQ_SPAN = 2**32
"""Arrival numbers stay below this; score = -priority * SEQ_SPAN + seq is then an exact double."""

Entry = tuple[float, str]
"""`(score, call_id)`: lower scores are offered sooner; the call id breaks no real tie
(arrival numbers are unique) but keeps entries distinct."""


def order_score(priority: int, seq: int) -> float:
    """Offer order: higher priority first, then earlier arrival (lower score = sooner)."""
    return float(-priority * SEQ_SPAN + seq)


class WaitingLists:
    """The contacts waiting in each queue, head first."""

    def __init__(self, queues: Iterable[str]) -> None:
        self._lines: dict[str, list[Entry]] = {queue: [] for queue in queues}

    def index(self, queue: str, score: float, call_id: str) -> int:
        """0-based place of a waiting contact in its queue."""
        return bisect_left(self._lines[queue], (score, call_id))

    def insert(self, queue: str, score: float, call_id: str) -> int:
        """Put a contact at the place its score gives; its 0-based index."""
        line = self._lines[queue]
        entry = (score, call_id)
        index = bisect_left(line, entry)
        line.insert(index, entry)
        return index

    def remove(self, queue: str, score: float, call_id: str) -> int:
        """Take a waiting contact out; the 0-based index it had."""
        index = self.index(queue, score, call_id)
        del self._lines[queue][index]
        return index

    def head(self, queue: str) -> Entry | None:
        line = self._lines[queue]
        return line[0] if line else None

    def call_at(self, queue: str, index: int) -> str:
        return self._lines[queue][index][1]

    def length(self, queue: str) -> int:
        return len(self._lines[queue])

    def entries(self, queue: str) -> Iterator[Entry]:
        """The waiting `(score, call_id)` of `queue`, head first."""
        return iter(self._lines[queue])

    def calls(self, queue: str) -> Iterator[str]:
        """The waiting calls of `queue`, head first."""
        return (call_id for _, call_id in self._lines[queue])
