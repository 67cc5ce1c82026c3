"""Commands: what the engine asks the runtime to do. Plain data, no behaviour. Layer 2 (engine).

The runtime routes each to its carrier: media commands to the call's channel,
`HttpRequest` to the connectors, `Enqueue`/`Dequeue` to the contact center,
`ScreenPop` to the agent desktop, timers to the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Play:
    """Say a prompt. The channel answers with `PromptDone(prompt_id)`.

    With `interruptible`, a digit stops playback (barge-in) and the channel still
    reports the digit with `DigitsCollected` and the prompt with `PromptDone(interrupted=True)`.
    """

    prompt_id: str
    text: str | None = None
    """Rendered TTS text (already escaped for speech; never SSML from caller data)."""
    audio: str | None = None
    """An audio file name, resolved by the media layer."""
    language: str = "en-US"
    voice: str | None = None
    interruptible: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayMusic:
    """Music on hold, looped until `StopMedia` or another `Play`/`PlayMusic`.

    The channel sends no `PromptDone` for looped music; the engine times it.
    """

    prompt_id: str
    audio: str = "hold"


@dataclass(frozen=True, slots=True, kw_only=True)
class StopMedia:
    """Stop whatever the caller is hearing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest:
    """An HTTP data dip. Answered by `HttpCompleted(request_id)`."""

    request_id: str
    connector: str | None
    method: str
    path: str | None = None
    url: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    content_type: str = "application/json"
    timeout_s: float = 5.0
    """The whole budget, retries included."""
    retries: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Enqueue:
    queue: str
    priority: int = 0
    max_wait_s: float | None = None
    fallback_queue: str | None = None
    data: dict[str, str] = field(default_factory=dict)
    """Call-associated data for the agent desktop (label -> value), secure variables excluded."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Dequeue:
    queue: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenPop:
    """Open `url` for the answering agent only."""

    agent_id: str | None
    url: str
    label: str
    target: str = "new_tab"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetTimer:
    timer_id: str
    at: float
    """Absolute time on the clock the engine is given as `now`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTimer:
    timer_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnect:
    """Hang up the caller (and any agent leg)."""

    reason: str = "normal"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFinished:
    """The engine is done with this call: every event flow has run. The runtime may drop it."""


Command = (
    Play
    | PlayMusic
    | StopMedia
    | HttpRequest
    | Enqueue
    | Dequeue
    | ScreenPop
    | SetTimer
    | CancelTimer
    | Disconnect
    | CallFinished
)

MediaCommand = Play | PlayMusic | StopMedia | Disconnect
"""The commands a channel carries out."""
