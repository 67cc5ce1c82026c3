"""Values of the contact center: states, notifications, snapshots. Layer 3 (center).

Notifications are what the center publishes to subscribers (the runtime, the agent
desktop, the supervisor page). They are frozen, slotted, keyword-only dataclasses
and round-trip through plain dicts (`notification_to_dict` / `notification_from_dict`)
so that the Redis store and any cross-node relay can carry them as JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

from dipflow.center.skills import SkillRequirement


class AgentState(StrEnum):
    """The states of a real agent desktop (see `transitions.TRANSITIONS`)."""

    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    IDLE = "idle"
    """Not ready, with a reason code ("break", "lunch", "meeting", "rona", ...)."""
    OFFERED = "offered"
    """A contact is ringing at the agent's desktop."""
    CONNECTED = "connected"
    WRAP_UP = "wrap_up"
    """After-call work; timed by `CenterConfig.wrap_up_s`, then available."""


class ContactState(StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    CONNECTED = "connected"


class LeaveReason(StrEnum):
    MAX_WAIT = "max_wait"
    """Waited longer than the queue's maximum and the queue has no fallback."""
    NO_FALLBACK = "no_fallback"
    """The fallback chain leads back to a queue the contact already left (a loop)."""
    ABANDONED = "abandoned"
    """The caller hung up (or the call ended) while queued or offered."""
    AGENT_UNAVAILABLE = "agent_unavailable"
    """A contact for one named agent: the agent did not answer, declined or logged out."""


class RescindReason(StrEnum):
    RONA = "rona"
    """Ring-no-answer: the offer rang `ring_timeout_s` without an accept."""
    DECLINED = "declined"
    CALLER_HUNG_UP = "caller_hung_up"
    AGENT_LOGGED_OUT = "agent_logged_out"


IDLE_REASON_RONA = "rona"
"""Reason code of an agent made idle by a ring-no-answer or a decline."""
IDLE_REASON_OFFLINE = "offline"
"""Reason code of an agent whose desktop has been gone for the grace period (presence)."""
IDLE_REASON_LOGIN = "login"
"""Reason code of an agent who has just logged in (not ready until they say so)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactQueued:
    call_id: str
    queue: str
    position: int
    """1 = next to be offered."""
    estimated_wait_s: float | None
    """None while nobody who serves the queue is logged in (no basis for an estimate)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuePositionChanged:
    call_id: str
    queue: str
    position: int
    estimated_wait_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactOffered:
    call_id: str
    agent_id: str
    queue: str
    data: dict[str, str]
    """Call-associated data for the desktop (label -> value)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferRescinded:
    call_id: str
    agent_id: str
    reason: str
    """A `RescindReason` value."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactAssigned:
    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactLeftQueue:
    call_id: str
    queue: str
    reason: str
    """A `LeaveReason` value."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactMovedQueue:
    call_id: str
    from_queue: str
    to_queue: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactEnded:
    """The connected call is over (`end_contact`, or the caller hung up while connected)."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStateChanged:
    agent_id: str
    state: AgentState
    reason: str | None
    since: float
    """Clock time of the change (the center's clock)."""


Notification = (
    ContactQueued
    | QueuePositionChanged
    | ContactOffered
    | OfferRescinded
    | ContactAssigned
    | ContactLeftQueue
    | ContactMovedQueue
    | ContactEnded
    | AgentStateChanged
)

_NOTIFICATION_TYPES: dict[str, type[Notification]] = {
    cls.__name__: cls
    for cls in (
        ContactQueued,
        QueuePositionChanged,
        ContactOffered,
        OfferRescinded,
        ContactAssigned,
        ContactLeftQueue,
        ContactMovedQueue,
        ContactEnded,
        AgentStateChanged,
    )
}


def notification_to_dict(note: Notification) -> dict[str, Any]:
    """`{"type": "ContactOffered", ...fields}`; JSON-serialisable."""
    out = asdict(note)
    out["type"] = type(note).__name__
    return out


def notification_from_dict(raw: dict[str, Any]) -> Notification:
    """Inverse of `notification_to_dict`; `ValueError` on an unknown type or fields."""
    kind = raw.get("type")
    cls = _NOTIFICATION_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown notification type {kind!r}")
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in raw.items() if k in names}
    if cls is AgentStateChanged:
        values["state"] = AgentState(values["state"])
        values["since"] = float(values["since"])  # carried as text to keep every digit
    if cls is ContactOffered:
        values["data"] = {str(k): str(v) for k, v in (values.get("data") or {}).items()}
    return cls(**values)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueStatus:
    """Where one caller stands: what a flow announces between music segments."""

    call_id: str
    queue: str
    state: ContactState
    position: int
    """1-based position among waiting contacts; 0 while offered or connected."""
    estimated_wait_s: float | None
    waited_s: float
    """Time since the contact entered the center (across fallback moves)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueStatistics:
    """One queue's numbers for a flow (Webex Get Queue Info), as seen by one caller."""

    queue: str
    waiting: int
    """Contacts waiting in the queue now (not those offered to an agent)."""
    staffed: int
    """Logged-in agents serving the queue, whatever their state."""
    available: int
    oldest_wait_s: float
    """How long the contact that has waited longest in the center has waited; 0: none."""
    position: int
    """The asking caller's position in this queue (1 = next); 0 when not waiting in it."""
    estimated_wait_s: float | None
    """For the asking caller at its position, or for a caller joining now; None when
    nobody is staffed (no basis for an estimate)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingContact:
    call_id: str
    priority: int
    position: int
    waited_s: float
    """Time in the center so far."""
    requirements: tuple[SkillRequirement, ...] = ()
    """The skills it waits for now (after any relaxation); empty: any agent of the queue."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSnapshot:
    name: str
    waiting: tuple[WaitingContact, ...]
    """Waiting contacts in offer order."""
    offered: int
    """Contacts of this queue currently ringing at an agent."""
    longest_wait_s: float
    agents_available: int
    agents_staffed: int
    """Logged-in agents serving the queue, whatever their state."""
    average_handle_time_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSnapshot:
    agent_id: str
    name: str
    state: AgentState
    reason: str | None
    since: float
    call_id: str | None
    teams: tuple[str, ...]
    """Teams logged in to (empty while logged out)."""
    parked: tuple[str, ...] = ()
    """Contacts waiting for this agent alone (Queue To Agent), in offer order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CenterSnapshot:
    taken_at: float
    queues: tuple[QueueSnapshot, ...]
    agents: tuple[AgentSnapshot, ...]
