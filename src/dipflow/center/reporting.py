"""What the center reports: a caller's queue status and the supervisor's snapshot. Layer 3 (center).

Both stores report through these functions (the in-memory core from its records, the
Redis store from what its script reads), so that the two announce the same position,
estimated wait and waiting times for the same state.
"""

from __future__ import annotations

from collections.abc import Iterable

from dipflow.center.estimator import estimate_wait_s
from dipflow.center.model import ContactState, QueueSnapshot, QueueStatus, WaitingContact


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
    waiting: Iterable[tuple[str, int, float]],
    offered: int,
    available: int,
    staffed: int,
    aht_s: float,
    now: float,
) -> QueueSnapshot:
    """One queue for the supervisor; `waiting` is `(call_id, priority, entered_at)` in
    offer order."""
    entries = tuple(
        WaitingContact(
            call_id=call_id,
            priority=priority,
            position=i + 1,
            waited_s=max(0.0, now - entered_at),
        )
        for i, (call_id, priority, entered_at) in enumerate(waiting)
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
