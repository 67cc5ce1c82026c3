"""Estimated wait time (EWT) and average handle time (AHT). Layer 3 (center).

EWT for the caller at `position` (1 = next) in a queue served by `staffed` logged-in
agents, whose contacts take `aht_s` on average (talk time plus wrap-up):

    EWT = position * AHT / staffed

Reasoning: with `staffed` agents working in parallel, an agent frees up on average
every AHT / staffed seconds, and the caller needs `position` agents to free up. It is
the classic first-order estimator (the same shape as Erlang-C's mean wait once every
agent is busy); it ignores agents on break, which makes it optimistic when many are
idle, so flows should announce it rounded up ("about 3 minutes").

AHT is an exponentially weighted moving average per queue: O(1) state (one float per
queue, also in Redis), recent contacts weigh most, and before any contact has been
handled it starts from `CenterConfig.default_handle_time_s`.
"""

from __future__ import annotations

import math


def estimate_wait_s(position: int, aht_s: float, staffed: int) -> float | None:
    """Seconds until the caller at `position` is offered; None when nobody is staffed."""
    if staffed <= 0:
        return None
    # Rounded half-up to 0.1 s with plain float arithmetic, exactly as the Redis Lua
    # scripts do it, so that both stores announce the same number.
    return math.floor(position * aht_s / staffed * 10 + 0.5) / 10


def update_aht(aht_s: float, sample_s: float, weight: float) -> float:
    """Fold one handle time into the moving average."""
    return aht_s + weight * (sample_s - aht_s)
