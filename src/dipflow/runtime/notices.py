"""What the runtime tells the desktop and supervisor views (plain frozen data).

`Runtime.subscribe(callback)` delivers `RuntimeNotice`s; the contact center's own
notifications (offers, agent states, queue positions) come from `runtime.center.subscribe`.
Layer 5 (runtime).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class CallPhase(StrEnum):
    """Where a call is, for the supervisor view."""

    IVR = "ivr"
    QUEUED = "queued"
    OFFERED = "offered"
    CONNECTED = "connected"
    ENDED = "ended"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenPopReady:
    """Open `url` on the desktop of `agent_id` (and nobody else's)."""

    agent_id: str
    call_id: str
    url: str
    label: str
    target: str = "new_tab"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallSummary:
    call_id: str
    ani: str
    dnis: str
    channel: str
    state: CallPhase
    started_at: float
    """Wall clock, seconds since the epoch."""
    ended_at: float | None = None
    path: tuple[str, ...] = ()
    """Activity ids in the order the call went through them."""
    agent_id: str | None = None
    queue: str | None = None
    error: bool = False
    """The call went through the global error handler."""
    trace: tuple[dict[str, Any], ...] = ()
    """The engine's trace entries as dicts, secure variables masked."""
    media: tuple[dict[str, Any], ...] = ()
    """The media quality of each RTP leg (loss, jitter, round-trip time), as the channel
    last reported it; also the last entries of `trace`."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["path"] = list(self.path)
        data["trace"] = list(self.trace)
        data["media"] = list(self.media)
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class CallUpdated:
    """A call changed phase (or its summary did): for the supervisor view."""

    call_id: str
    summary: CallSummary


@dataclass(frozen=True, slots=True, kw_only=True)
class CallData:
    """What the desktop shows an agent about a call they are offered or connected to."""

    call_id: str
    ani: str
    dnis: str
    variables: dict[str, str] = field(default_factory=dict)
    """Agent-visible variables, desktop label -> value (secure variables never appear)."""
    path: tuple[str, ...] = ()
    queue: str | None = None


RuntimeNotice = ScreenPopReady | CallUpdated
