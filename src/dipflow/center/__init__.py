"""The contact center: queues, agents, routing and its state store. Layer 3 (center).

Routing is LONGEST_AVAILABLE_AGENT among the agents who meet a contact's skill
requirements, or to one named agent. Imports nothing from channels, web or runtime.
See docs/center.md.

Errors: `CenterError` (a `dipflow.errors.DipflowError`) is the root of every error the
center raises on purpose:

    CenterError
    ├── UnknownQueue, UnknownAgent, UnknownTeam   a name not in the configuration
    │                                             (also LookupError)
    ├── InvalidTransition    the agent's state does not allow the action
    ├── AgentUnavailable     a contact for one named agent who cannot take it
    ├── ContactExists        the call is already in the center
    ├── InvalidArgument      a value out of range (also ValueError)
    └── CenterStoreError     the state store failed (Redis unreachable): nothing happened

A caller catches `CenterError` around center operations: a Redis outage is then an
expected failure, and anything else (a bug) reaches the logged boundary.
"""

from dipflow.center.config import AgentConfig, CenterConfig, QueueConfig
from dipflow.center.errors import (
    AgentUnavailable,
    CenterError,
    CenterStoreError,
    ContactExists,
    InvalidArgument,
    InvalidTransition,
    UnknownAgent,
    UnknownQueue,
    UnknownTeam,
)
from dipflow.center.memory import MemoryCenterStore
from dipflow.center.model import (
    AgentSnapshot,
    AgentState,
    AgentStateChanged,
    CenterSnapshot,
    ContactAssigned,
    ContactEnded,
    ContactLeftQueue,
    ContactMovedQueue,
    ContactOffered,
    ContactQueued,
    ContactState,
    LeaveReason,
    Notification,
    OfferRescinded,
    QueuePositionChanged,
    QueueSnapshot,
    QueueStatistics,
    QueueStatus,
    RescindReason,
    WaitingContact,
)
from dipflow.center.service import ContactCenter
from dipflow.center.store import CenterStore

__all__ = [
    "AgentConfig",
    "AgentSnapshot",
    "AgentState",
    "AgentStateChanged",
    "AgentUnavailable",
    "CenterConfig",
    "CenterError",
    "CenterSnapshot",
    "CenterStore",
    "CenterStoreError",
    "ContactAssigned",
    "ContactCenter",
    "ContactEnded",
    "ContactExists",
    "ContactLeftQueue",
    "ContactMovedQueue",
    "ContactOffered",
    "ContactQueued",
    "ContactState",
    "InvalidArgument",
    "InvalidTransition",
    "LeaveReason",
    "MemoryCenterStore",
    "Notification",
    "OfferRescinded",
    "QueueConfig",
    "QueuePositionChanged",
    "QueueSnapshot",
    "QueueStatistics",
    "QueueStatus",
    "RescindReason",
    "UnknownAgent",
    "UnknownQueue",
    "UnknownTeam",
    "WaitingContact",
]
