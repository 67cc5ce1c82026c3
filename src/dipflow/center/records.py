"""The mutable records the core keeps per contact and agent. Layer 3 (center).

Internal to `CenterCore`."""

from __future__ import annotations

from dataclasses import dataclass, field

from dipflow.center.model import AgentState, ContactState
from dipflow.center.skills import RelaxationStep, SkillRequirement


@dataclass(slots=True)
class ContactRecord:
    call_id: str
    queue: str
    priority: int
    score: float
    entered_at: float
    queued_at: float
    max_wait_s: float | None
    fallback_queue: str | None
    data: dict[str, str]
    visited: list[str]
    requirements: tuple[SkillRequirement, ...] = ()
    """What the contact waits for now (after `step` relaxation steps)."""
    relaxation: tuple[RelaxationStep, ...] = ()
    step: int = 0
    """Relaxation steps applied so far."""
    target: str | None = None
    """For one named agent only (Webex Queue To Agent): it waits in that agent's personal
    line, not in `queue`'s (which it is reported in)."""
    state: ContactState = ContactState.QUEUED
    agent_id: str | None = None
    connected_at: float = 0.0


@dataclass(slots=True)
class AgentRecord:
    agent_id: str
    name: str
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    since: float = 0.0
    call_id: str | None = None
    teams: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    skills: dict[str, str] = field(default_factory=dict)
    """Normal-form skill values (from the configuration)."""
    email: str | None = None
