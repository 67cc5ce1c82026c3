"""Contact-center configuration (pydantic). Layer 3 (center).

As it appears under `center:` in dipflow.yaml."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

MIN_PRIORITY = -(2**20)
MAX_PRIORITY = 2**20
"""Priorities are bounded so that (priority, arrival) packs into one exact float score
(a Redis sorted-set score is an IEEE double; see docs/center.md)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QueueConfig(_Strict):
    """One queue. Routing is LONGEST_AVAILABLE_AGENT over the agents of `teams`."""

    name: str = Field(min_length=1)
    """Name the flow's Queue Contact activity uses."""
    teams: list[str] = Field(default_factory=list)
    """Teams whose logged-in agents serve this queue."""
    max_wait_s: float | None = Field(default=None, gt=0)
    """A contact waiting longer moves to `fallback_queue`, or leaves with reason "max_wait"."""
    fallback_queue: str | None = None
    """Where a contact goes after `max_wait_s`; must name another configured queue."""
    ring_timeout_s: float = Field(default=15.0, gt=0)
    """How long an offer rings before it is a ring-no-answer (RONA)."""


class AgentConfig(_Strict):
    """One agent. Password hashes for the desktop login belong to the web layer, not here."""

    agent_id: str = Field(min_length=1)
    name: str
    """Display name for the supervisor page."""
    teams: list[str] = Field(default_factory=list)
    """Teams the agent may log in to (all of them by default)."""
    sip_uri: str | None = None
    """Where the runtime rings the agent's phone, when the agent uses one."""


class CenterConfig(_Strict):
    """The whole contact center."""

    queues: list[QueueConfig] = Field(default_factory=list)
    agents: list[AgentConfig] = Field(default_factory=list)
    wrap_up_s: float = Field(default=10.0, ge=0)
    """After-call work: the agent is in wrap_up this long, then available again."""
    default_handle_time_s: float = Field(default=120.0, gt=0)
    """Handle time the wait estimate assumes before a queue has handled any contact."""
    handle_time_weight: float = Field(default=0.2, gt=0, le=1)
    """Weight of the newest handle time in the moving average (EWMA alpha)."""
    idle_codes: list[str] | None = Field(
        default_factory=lambda: ["break", "lunch", "meeting", "training", "other"]
    )
    """Reason codes an agent may pick for idle (the desktop's "not ready" menu); None
    accepts any. The center itself uses "login" and "rona" (see model.py)."""
    position_updates: int = Field(default=10, ge=0)
    """`QueuePositionChanged` is pushed for the first N waiting contacts of a queue only;
    deeper callers ask `queue_status` (keeps each event O(N), not O(queue length))."""

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        names = [q.name for q in self.queues]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate queue names: {dupes}")
        ids = [a.agent_id for a in self.agents]
        dupes = sorted({a for a in ids if ids.count(a) > 1})
        if dupes:
            raise ValueError(f"duplicate agent ids: {dupes}")
        for queue in self.queues:
            if queue.fallback_queue is None:
                continue
            if queue.fallback_queue not in names:
                raise ValueError(
                    f"queue {queue.name!r}: fallback_queue {queue.fallback_queue!r} is not a queue"
                )
            if queue.fallback_queue == queue.name:
                raise ValueError(f"queue {queue.name!r}: fallback_queue is the queue itself")
        return self

    def queue(self, name: str) -> QueueConfig | None:
        for queue in self.queues:
            if queue.name == name:
                return queue
        return None

    def agent(self, agent_id: str) -> AgentConfig | None:
        for agent in self.agents:
            if agent.agent_id == agent_id:
                return agent
        return None

    def queues_for_teams(self, teams: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        """Queues served by an agent logged in to `teams`, in configuration order."""
        wanted = set(teams)
        return tuple(q.name for q in self.queues if wanted.intersection(q.teams))
