"""The mutable records the core keeps per contact and agent. Layer 3 (center).

Internal to `CenterCore`."""

from __future__ import annotations

from dataclasses import dataclass

from dipflow.center.model import AgentState, ContactState


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
