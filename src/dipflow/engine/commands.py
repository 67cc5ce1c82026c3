"""Commands: what the engine asks the runtime to do. Plain data, no behaviour. Layer 2 (engine).

The runtime routes each to its carrier: media commands to the call's channel,
`HttpRequest` to the connectors, `Enqueue`/`Dequeue` to the contact center,
`ScreenPop` to the agent desktop, timers to the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Spoken:
    """One stretch of speech: rendered text in one language and voice."""

    text: str
    language: str = "en-US"
    voice: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Play:
    """Say a prompt. The channel answers with `PromptDone(prompt_id)`.

    With `interruptible`, a digit stops playback (barge-in) and the channel still
    reports the digit with `DigitsCollected` and the prompt with `PromptDone(interrupted=True)`.
    A prompt in several languages has `segments`, spoken in turn; `text` then holds them
    all (for transcripts) and `language`/`voice` are the first one's.
    """

    prompt_id: str
    text: str | None = None
    """Rendered TTS text (already escaped for speech; never SSML from caller data)."""
    audio: str | None = None
    """An audio file name, resolved by the media layer."""
    language: str = "en-US"
    voice: str | None = None
    interruptible: bool = False
    rate: float | None = None
    """TTS speaking rate (1 = normal); None: the voice's own."""
    gain_db: float | None = None
    """TTS volume change in dB; None: unchanged."""
    segments: tuple[Spoken, ...] = ()

    def spoken(self) -> tuple[Spoken, ...]:
        """What to synthesise, in order (empty for an audio prompt)."""
        if self.segments:
            return self.segments
        if self.text:
            return (Spoken(text=self.text, language=self.language, voice=self.voice),)
        return ()


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
class SkillNeed:
    """A rendered skill requirement, as the flow wrote it; the contact center checks it
    against its skill definitions."""

    skill: str
    condition: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SkillRelax:
    """From `after_s` in the center on, the contact's requirements are `skills`."""

    after_s: float
    skills: tuple[SkillNeed, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Enqueue:
    queue: str
    priority: int = 0
    max_wait_s: float | None = None
    fallback_queue: str | None = None
    data: dict[str, str] = field(default_factory=dict)
    skills: tuple[SkillNeed, ...] = ()
    """Only agents who meet all of them are offered the contact (skills-based routing)."""
    relaxation: tuple[SkillRelax, ...] = ()
    """Call-associated data for the agent desktop (label -> value), secure variables excluded."""
    agent: str | None = None
    """Offer the contact to this agent only (queue-to-agent); `queue` is where it is reported.
    A center that cannot route to one agent must answer `QueueFailed`, never route it to
    another agent."""
    agent_lookup: str = "id"
    """How `agent` names the agent: `id`, `email` or `name`."""
    park: bool = False
    """With `agent`: wait while the agent is busy (else busy fails the request)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Dequeue:
    queue: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LookupQueue:
    """Queue statistics for the flow. Answered by `QueueLookedUp(request_id)`."""

    request_id: str
    queue: str
    lookback_s: float = 300.0
    """Past time the estimated wait is computed over."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestCallback:
    """Keep the contact's place in `queue` and call `number` back when an agent is free,
    instead of connecting the caller's current leg. A callback that cannot be placed is
    reported with `CallbackFailed`; the agent taking it with `AgentOffered`/`AgentAnswered`."""

    queue: str
    number: str
    caller_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    """Blind transfer of the caller to `destination` (E.164 or `sip:` URI); the IVR leaves
    the call. Answered by `TransferDone(transfer_id)`."""

    transfer_id: str
    destination: str
    caller_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StartVirtualAgent:
    """Connect the caller to a virtual agent (bot) through connector `connector`.
    Answered by `VirtualAgentEnded(session_id)` when the bot ends, escalates or fails."""

    session_id: str
    connector: str
    parameters: dict[str, Any] = field(default_factory=dict)
    event_name: str | None = None
    language: str = "en-US"


@dataclass(frozen=True, slots=True, kw_only=True)
class StartMediaStream:
    """Fork the caller's audio to `destination` (a configured media stream's name or a
    WebSocket URL) until the call ends. No answer: the flow goes on at once."""

    stream_id: str
    destination: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GoToFlow:
    """Continue the call in the flow named `flow`, from its start (Webex GoTo). The
    runtime swaps the call's engine; this engine's part of the call is over."""

    flow: str


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
class Notice:
    """Something the people reading a call's transcript must know (a stub was reached,
    a virtual agent had no connector). Carries no action."""

    kind: str
    text: str


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
    | LookupQueue
    | RequestCallback
    | Transfer
    | StartVirtualAgent
    | GoToFlow
    | StartMediaStream
    | ScreenPop
    | SetTimer
    | CancelTimer
    | Disconnect
    | Notice
    | CallFinished
)

MediaCommand = Play | PlayMusic | StopMedia | Disconnect
"""The commands a channel carries out."""
