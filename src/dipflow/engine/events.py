"""Events: what happened to a call, fed to the engine by the runtime. Layer 2 (engine).

Channels turn the outside world (a SIP INVITE, a Twilio webhook, a browser
click) into these; connectors and the contact center add theirs. All are plain
frozen data so that an event log can be stored and replayed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStarted:
    """A new contact reached the flow."""

    call_id: str
    ani: str
    """The caller's number as the channel saw it (untrusted: may be anything)."""
    dnis: str
    channel: str = "sim"
    started_at: float | None = None
    """Wall-clock start (Unix seconds), as data: `now` is the runtime's timer clock (a
    monotonic loop clock), not a date. None: `now` is taken for the start time."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptDone:
    """A `Play` or `PlayMusic` finished (or was cut short by a digit, `interrupted`)."""

    prompt_id: str
    interrupted: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptFailed:
    """A prompt could not be rendered or played (TTS failure, missing audio file)."""

    prompt_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DigitsCollected:
    """One or more DTMF digits from the caller, in the order pressed."""

    digits: str


class HttpOutcome(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpCompleted:
    """The result of an `HttpRequest` command, after the connector's retries."""

    request_id: str
    outcome: HttpOutcome
    status: int | None = None
    body: Any = None
    """Parsed JSON when the response was JSON, else the text."""
    headers: dict[str, str] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    attempts: int = 1
    error: str | None = None
    """Why it failed, for the trace (never contains secrets)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueUpdated:
    """The contact's position and estimated wait in its queue changed."""

    queue: str
    position: int
    estimated_wait_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueFailed:
    """The contact could not be queued or left the queue without an agent."""

    queue: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueLookedUp:
    """The answer to `LookupQueue`. `ok` False: the statistics could not be had (`error`)."""

    request_id: str
    ok: bool = True
    position: int = 0
    """The contact's position in the queue (1 = next); 0 when it is not in that queue."""
    estimated_wait_s: float | None = None
    """None: not enough data to estimate."""
    calls_queued: int = 0
    agents_logged_on: int = 0
    agents_available: int = 0
    oldest_wait_s: float = 0.0
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackFailed:
    """A requested callback could not be placed (no answer, busy, no trunk...)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferDone:
    """The outcome of a `Transfer`: `ok` the caller has left; else `error` says why."""

    transfer_id: str
    ok: bool
    error: str | None = None


class VirtualAgentOutcome(StrEnum):
    HANDLED = "handled"
    ESCALATED = "escalated"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class VirtualAgentEnded:
    """The end of a `StartVirtualAgent` conversation."""

    session_id: str
    outcome: VirtualAgentOutcome
    metadata: dict[str, Any] = field(default_factory=dict)
    """What the bot hands back (intent, parameters): `<activity>.MetaData`."""
    state_event: str = ""
    transcript: str = ""
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentOffered:
    agent_id: str
    agent_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAnswered:
    """The agent accepted and the caller is connected to them."""

    agent_id: str
    agent_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentDisconnected:
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerHungUp:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerFired:
    timer_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AniUpdated:
    """The caller's number changed during the call (Webex `ContactAniUpdated`): the
    called-back number answered a callback, or the network asserted a new identity."""

    ani: str


Event = (
    CallStarted
    | PromptDone
    | PromptFailed
    | DigitsCollected
    | HttpCompleted
    | QueueUpdated
    | QueueFailed
    | QueueLookedUp
    | CallbackFailed
    | TransferDone
    | VirtualAgentEnded
    | AgentOffered
    | AgentAnswered
    | AgentDisconnected
    | CallerHungUp
    | TimerFired
    | AniUpdated
)
