"""The seam between the runtime and the channels (SIP, browser, simulator). Layer 4 (channels).

A channel that receives a call creates a `ChannelCall` (its side of the call) and
hands it to `CallHost.start_call`, getting back a `CallHandle` to post events to.
The runtime then carries out media commands through `ChannelCall.execute` and,
when an agent accepts on the desktop, asks the channel to `connect_agent`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dipflow.engine.commands import MediaCommand
from dipflow.engine.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentEndpoint:
    agent_id: str
    display_name: str
    sip_uri: str | None = None
    """Where a telephony channel rings the agent's phone; None for desktop-only agents."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaQuality:
    """One media leg's quality (RTP, RFC 3550): what we measured receiving, and what the
    peer reported receiving from us (its RTCP receiver reports); None: not reported."""

    leg: str
    """"caller" or "agent"."""
    packets_sent: int
    packets_received: int
    packets_lost: int
    loss_fraction: float
    jitter_ms: float
    peer_loss_fraction: float | None = None
    peer_jitter_ms: float | None = None
    rtt_ms: float | None = None
    rtcp_reports_received: int = 0


class ChannelCall(Protocol):
    """The channel's side of one call."""

    async def execute(self, command: MediaCommand) -> None:
        """Carry out a media command without blocking: playback runs in the background and
        reports `PromptDone` through the handle when finished."""
        ...

    async def connect_agent(self, agent: AgentEndpoint) -> bool:
        """Bridge the caller to the agent (ring their phone where the channel has one).
        True once connected; False if the agent leg failed (the runtime treats it as a
        ring-no-answer)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferResult:
    """How a blind transfer ended: `ok` the caller is with the destination now (the IVR
    must not hang up: the channel owns the call); else `error` says why, and the caller
    is still connected to the IVR."""

    ok: bool
    error: str | None = None
    method: str = ""
    """How it was done (`refer`, `bridge`), for the transcript and logs."""


@runtime_checkable
class TransferringCall(Protocol):
    """A `ChannelCall` that can hand the caller over to another number or URI (the Blind
    Transfer activity); channels without telephony (the browser) do not offer it."""

    async def transfer(self, destination: str, *, caller_id: str | None) -> TransferResult: ...


@runtime_checkable
class AudioSource(Protocol):
    """A `ChannelCall` whose caller audio can be heard by others too (a media stream to an
    AI service). Optional: a channel without audio (the simulator, a chat) lacks it, and
    the runtime says so instead of streaming."""

    def tap_audio(self, sink: Callable[[bytes], None]) -> Callable[[], None]:
        """Give `sink` each frame of the caller's audio as it arrives (G.711 u-law, 8 kHz,
        mono; usually 20 ms) until the returned function is called."""
        ...


class CallHandle(Protocol):
    """The runtime's side of one call, given to the channel."""

    @property
    def call_id(self) -> str: ...

    def post(self, event: Event) -> None:
        """Queue an event for the engine (safe to call from any task of the event loop)."""
        ...

    def report_media(self, quality: tuple[MediaQuality, ...]) -> None:
        """The call's media quality so far (a channel with RTP reports it as it learns it,
        and a last time when the call ends): kept in the call's trace and summary."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundCall:
    """A call the runtime asks a channel to place (a courtesy callback)."""

    call_id: str
    """The contact this leg belongs to (its session receives the leg's events)."""
    number: str
    caller_id: str | None = None
    """The number shown to the callee (Set Caller ID, the callback's ANI); None: the
    channel's own."""


class OutboundChannel(Protocol):
    """A channel that places calls (a SIP trunk). The runtime asks it for callbacks."""

    def can_dial(self, number: str) -> bool:
        """Whether this channel can reach `number` at all (a route exists)."""
        ...

    async def dial(self, call: OutboundCall, handle: CallHandle) -> ChannelCall:
        """Ring `call.number` and return the answered leg, whose events (digits, the
        callee hanging up) go to `handle`. Raises `ChannelError` when it is not answered
        (busy, no answer, refused, no route)."""
        ...


class CallHost(Protocol):
    """The runtime, as channels see it."""

    def start_call(
        self,
        channel_call: ChannelCall,
        *,
        ani: str,
        dnis: str,
        channel: str,
        call_id: str | None = None,
    ) -> CallHandle:
        """Start the flow configured for `dnis` (raises `LookupError` when no flow serves it)."""
        ...

    def call_refused(self, *, ani: str, dnis: str, channel: str, status: int, reason: str) -> None:
        """A call the channel refused before any flow ran (`status`: e.g. SIP 488, no codec
        in common): listed with the recent calls, so that a supervisor sees it."""
        ...
