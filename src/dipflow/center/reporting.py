"""What the center reports: a caller's queue status and the supervisor's snapshot. Layer 3 (center).

Both stores report through these functions (the in-memory core from its records, the
Redis store from what its script reads), so that the two announce the same position,
estimated wait and waiting times for the same state.
"""

from __future__ import annotations

from collections.abc import Iterable

from dipflow.center.estimator import estimate_wait_s
from dipflow.center.model import (
    ContactState,
    QueueSnapshot,
    QueueStatistics,
    QueueStatus,
    WaitingContact,
)
from dipflow.center.skills import SkillRequirement


def queue_status(
    *,
    call_id: str,
    queue: str,
    state: ContactState,
    position: int,
    aht_s: float,
    staffed: int,
    entered_at: float,
    now: float,
) -> QueueStatus:
    """Where a caller stands; `position` is 1-based while waiting, 0 once offered."""
    return QueueStatus(
        call_id=call_id,
        queue=queue,
        state=state,
        position=position,
        estimated_wait_s=estimate_wait_s(position, aht_s, staffed) if position else 0.0,
        waited_s=max(0.0, now - entered_at),
    )


def queue_snapshot(
    *,
    name: str,
    waiting: Iterable[tuple[str, int, float, tuple[SkillRequirement, ...]]],
    offered: int,
    available: int,
    staffed: int,
    aht_s: float,
    now: float,
) -> QueueSnapshot:
    """One queue for the supervisor; `waiting` is `(call_id, priority, entered_at,
    requirements)` in offer order."""
    entries = tuple(
        WaitingContact(
            call_id=call_id,
            priority=priority,
            position=i + 1,
            waited_s=max(0.0, now - entered_at),
            requirements=requirements,
        )
        for i, (call_id, priority, entered_at, requirements) in enumerate(waiting)
    )
    return QueueSnapshot(
        name=name,
        waiting=entries,
        offered=offered,
        longest_wait_s=max((w.waited_s for w in entries), default=0.0),
        agents_available=available,
        agents_staffed=staffed,
        average_handle_time_s=round(aht_s, 1),
    )


def queue_statistics(
    *,
    queue: str,
    waiting: int,
    staffed: int,
    available: int,
    oldest_entered_at: float | None,
    position: int,
    aht_s: float,
    now: float,
) -> QueueStatistics:
    """`position` 0: the caller is not waiting in `queue`; the estimate is then for a
    caller joining the queue now (behind everyone waiting)."""
    return QueueStatistics(
        queue=queue,
        waiting=waiting,
        staffed=staffed,
        available=available,
        oldest_wait_s=0.0 if oldest_entered_at is None else max(0.0, now - oldest_entered_at),
        position=position,
        estimated_wait_s=estimate_wait_s(position or waiting + 1, aht_s, staffed),
    )
