"""The contact center: queues, agents, routing (LONGEST_AVAILABLE_AGENT), and its state store.

Layer 3: imports nothing from channels, web or runtime. See docs/center.md.
"""

from dipflow.center.config import AgentConfig, CenterConfig, QueueConfig
from dipflow.center.errors import (
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
    "QueueStatus",
    "RescindReason",
    "UnknownAgent",
    "UnknownQueue",
    "UnknownTeam",
    "WaitingContact",
]
