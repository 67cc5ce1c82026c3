"""`BrowserCall`: the browser caller's side of one call (a `ChannelCall`).

The runtime's media commands become JSON messages to the page:

    Play        -> {"type": "play", "prompt_id", "url", "text", "interruptible", "duration_s"}
    PlayMusic   -> {"type": "music", "url"}                  (the page loops it)
    StopMedia   -> {"type": "stop"}
    Disconnect  -> {"type": "ended", "reason"}
    connect_agent -> {"type": "agent", "agent_id", "name"}   (immediate: the browser has no
                                                              agent leg to ring)

and the page's messages (see `protocol`) become engine events: `prompt_done` ->
`PromptDone`, `digits` -> `DigitsCollected`, `hangup` or a closed socket ->
`CallerHungUp`. Prompts are rendered to WAV by the prompt renderer and fetched by
the page from the URL `media_url(key)` gives (the web app's are keyed to the browser).

Barge-in is decided here, not in the page: a digit during an interruptible prompt
ends the prompt (`PromptDone(interrupted=True)`, then `DigitsCollected`, the order a
caller produces when they press a key as the prompt ends) and the page is told to stop.
A `prompt_done` for a prompt that is no longer current is stale and dropped.
Layer 4 (channels).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, assert_never

from dipflow.channels.seam import AgentEndpoint, CallHandle
from dipflow.channels.web.protocol import (
    ClientMessage,
    HangUp,
    PlaceCall,
    PressDigits,
    PromptEnded,
)
from dipflow.engine.commands import (
    Disconnect,
    MediaCommand,
    Play,
    PlayMusic,
    Spoken,
    StopMedia,
)
from dipflow.engine.events import CallerHungUp, DigitsCollected, Event, PromptDone

log = logging.getLogger("dipflow.channels.web")

Send = Callable[[dict[str, Any]], Awaitable[None]]


class RenderedLike(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def duration_s(self) -> float: ...


class PromptSource(Protocol):
    """The part of `dipflow.media.prompts.PromptRenderer` the channel uses. Rendering is
    CPU-bound (TTS) and may read files: the renderer does it in its workers (processes,
    or a thread), so that synthesis never blocks the event loop."""

    async def render_spoken_async(
        self,
        parts: Sequence[Spoken],
        *,
        rate: float | None = None,
        gain_db: float | None = None,
    ) -> RenderedLike: ...

    async def render_audio_async(self, name: str) -> RenderedLike: ...


def media_path(key: str) -> str:
    return f"/media/{key}.wav"


@dataclass(slots=True)
class _Playing:
    prompt_id: str
    interruptible: bool


class BrowserCall:
    """Implements `dipflow.channels.seam.ChannelCall` for a caller in a web page."""

    def __init__(
        self,
        *,
        send: Send,
        prompts: PromptSource,
        media_url: Callable[[str], str] = media_path,
    ) -> None:
        self._send_raw = send
        self._prompts = prompts
        self._media_url = media_url
        self._handle: CallHandle | None = None
        self._playing: _Playing | None = None
        self._epoch = 0
        """Bumped by everything that changes what the caller hears; a rendering that
        finishes after its epoch passed (the agent connected, media stopped) is dropped."""
        self.agent: AgentEndpoint | None = None
        self.ended = False
        """The call is over for the caller (they hung up, or the IVR disconnected)."""
        self.finished = asyncio.Event()
        """Set when `ended` becomes true (the socket owner waits on it)."""

    def attach(self, handle: CallHandle) -> None:
        self._handle = handle

    @property
    def call_id(self) -> str | None:
        return self._handle.call_id if self._handle is not None else None

    # -- ChannelCall ----------------------------------------------------------------------------

    async def execute(self, command: MediaCommand) -> None:
        if self.ended:
            return
        self._epoch += 1
        epoch = self._epoch
        match command:
            case Play():
                await self._play(command, epoch)
            case PlayMusic():
                self._playing = None
                audio = await self._prompts.render_audio_async(command.audio)
                if epoch == self._epoch and not self.ended:
                    await self._send({"type": "music", "url": self._media_url(audio.key)})
            case StopMedia():
                self._playing = None
                await self._send({"type": "stop"})
            case Disconnect():
                self._end()
                await self._send_last({"type": "ended", "reason": command.reason})
            case _:
                assert_never(command)

    async def connect_agent(self, agent: AgentEndpoint) -> bool:
        if self.ended:
            return False
        self._epoch += 1
        self._playing = None
        self.agent = agent
        await self._send({"type": "agent", "agent_id": agent.agent_id, "name": agent.display_name})
        return not self.ended

    async def _play(self, command: Play, epoch: int) -> None:
        if command.text is not None:
            # Each segment of a prompt in several languages in its own voice.
            audio = await self._prompts.render_spoken_async(
                command.spoken(), rate=command.rate, gain_db=command.gain_db
            )
        else:
            audio = await self._prompts.render_audio_async(command.audio or "")
        if epoch != self._epoch or self.ended:
            return  # superseded while rendering: like a prompt cut off, no PromptDone
        self._playing = _Playing(command.prompt_id, command.interruptible)
        await self._send(
            {
                "type": "play",
                "prompt_id": command.prompt_id,
                "url": self._media_url(audio.key),
                "text": command.text if command.text is not None else f"[{command.audio}]",
                "interruptible": command.interruptible,
                "duration_s": round(float(audio.duration_s), 3),
            }
        )

    # -- the page -------------------------------------------------------------------------------

    async def receive(self, message: ClientMessage) -> None:
        """A validated message from the page (`PlaceCall` is handled by the socket owner)."""
        if self.ended:
            return
        match message:
            case PromptEnded():
                playing = self._playing
                if playing is not None and playing.prompt_id == message.prompt_id:
                    self._playing = None
                    done = PromptDone(prompt_id=message.prompt_id, interrupted=message.interrupted)
                    self._post(done)
            case PressDigits():
                playing = self._playing
                if playing is not None and playing.interruptible:
                    self._playing = None
                    await self._send({"type": "stop"})
                    self._post(PromptDone(prompt_id=playing.prompt_id, interrupted=True))
                self._post(DigitsCollected(digits=message.digits))
            case HangUp():
                self.caller_gone()
            case PlaceCall():
                pass  # a second `call` on a call in progress: nothing to do
            case _:
                assert_never(message)

    def caller_gone(self) -> None:
        """The caller hung up or closed the page."""
        if self.ended:
            return
        self._end()
        self._post(CallerHungUp())

    def _end(self) -> None:
        self._epoch += 1
        self.ended = True
        self._playing = None
        self.finished.set()

    async def notify(self, message: dict[str, Any]) -> None:
        """Something for the page's transcript that is not a media command (queue position)."""
        if not self.ended:
            await self._send(message)

    # -- plumbing -------------------------------------------------------------------------------

    def _post(self, event: Event) -> None:
        if self._handle is not None:
            self._handle.post(event)

    async def _send_last(self, message: dict[str, Any]) -> None:
        """The call's last message: the page may already be gone, which changes nothing."""
        try:
            await self._send_raw(message)
        except Exception as exc:
            log.info("call %s: page gone before the end (%s)", self.call_id, type(exc).__name__)

    async def _send(self, message: dict[str, Any]) -> None:
        try:
            await self._send_raw(message)
        except Exception as exc:  # the socket is gone: that is the caller hanging up
            log.info("call %s: page unreachable (%s)", self.call_id, type(exc).__name__)
            self.caller_gone()
