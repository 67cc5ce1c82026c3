"""A simulated caller: an in-process `ChannelCall` for `dipflow call`, tests and benchmarks.

Prompts "play" instantly (or at a configurable fraction of speaking speed) and
become transcript lines; the caller's key presses are scripted; an agent leg
connects at once. Nothing here touches audio or the network.

Key presses: each entry of `presses` is pressed (as one `DigitsCollected`) when an
*interruptible* prompt finishes, which is what a menu plays; plain messages are
listened to without pressing anything. A caller who runs out of presses waits,
so menu time-outs and re-prompts happen exactly as with a silent caller.
Layer 4 (channels).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never

from dipflow.channels.seam import AgentEndpoint, CallHandle
from dipflow.engine.commands import Disconnect, MediaCommand, Play, PlayMusic, StopMedia
from dipflow.engine.events import CallerHungUp, DigitsCollected, Event, PromptDone

CHARS_PER_SECOND = 15.0
"""Roughly how fast TTS speaks (about 160 words a minute)."""


class Speaker(StrEnum):
    IVR = "ivr"
    CALLER = "caller"
    AGENT = "agent"
    SYSTEM = "system"


class LineKind(StrEnum):
    PROMPT = "prompt"
    """The IVR speaks a text."""
    AUDIO = "audio"
    """The IVR plays an audio file."""
    MUSIC = "music"
    DIGITS = "digits"
    AGENT = "agent"
    """An agent is connected."""
    AGENT_FAILED = "agent_failed"
    """An agent's leg failed (`failing_agent_legs`)."""
    HANGUP = "hangup"
    """The caller hangs up."""
    DISCONNECT = "disconnect"
    """The IVR hangs up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptLine:
    at: float
    """Seconds since the call started."""
    speaker: Speaker
    kind: LineKind
    text: str


class SimCaller:
    """Implements `dipflow.channels.seam.ChannelCall`."""

    def __init__(
        self,
        *,
        presses: Sequence[str] = (),
        speed: float = 0.0,
        hang_up_in_queue_after_s: float | None = None,
        failing_agent_legs: int = 0,
    ) -> None:
        """`speed`: 0 plays prompts instantly, 1.0 at speaking speed, 0.1 ten times faster.
        `hang_up_in_queue_after_s`: the caller hangs up that long after hold music starts.
        `failing_agent_legs`: that many agent connections fail first (a phone that does
        not answer), to exercise the ring-no-answer path."""
        self._presses = list(presses)
        self._speed = speed
        self._hang_up_in_queue_after_s = hang_up_in_queue_after_s
        self._failing_agent_legs = failing_agent_legs
        self._handle: CallHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._playing: asyncio.TimerHandle | None = None
        self._hang_up_timer: asyncio.TimerHandle | None = None
        self._listeners: list[Callable[[TranscriptLine], None]] = []
        self.transcript: list[TranscriptLine] = []
        self.ended = asyncio.Event()
        self.agent: AgentEndpoint | None = None

    def attach(self, handle: CallHandle) -> None:
        """Give the caller the runtime's handle (right after `start_call`)."""
        self._handle = handle

    def on_line(self, listener: Callable[[TranscriptLine], None]) -> None:
        self._listeners.append(listener)

    # -- ChannelCall ----------------------------------------------------------------------------

    async def execute(self, command: MediaCommand) -> None:
        if self.ended.is_set():
            return
        match command:
            case Play():
                self._stop_playing()
                if command.text is not None:
                    self._say(Speaker.IVR, LineKind.PROMPT, command.text)
                else:
                    self._say(Speaker.IVR, LineKind.AUDIO, f"[audio {command.audio}]")
                length = len(command.text or "") or 30
                delay = length / CHARS_PER_SECOND * self._speed
                self._playing = self._loop.call_later(
                    delay, self._prompt_finished, command.prompt_id, command.interruptible
                )
            case PlayMusic():
                self._stop_playing()
                self._say(Speaker.IVR, LineKind.MUSIC, f"[music {command.audio}]")
                if self._hang_up_in_queue_after_s is not None and self._hang_up_timer is None:
                    self._hang_up_timer = self._loop.call_later(
                        self._hang_up_in_queue_after_s, self.hang_up
                    )
            case StopMedia():
                self._stop_playing()
            case Disconnect():
                self._stop_playing()
                text = f"the IVR hangs up ({command.reason})"
                self._say(Speaker.SYSTEM, LineKind.DISCONNECT, text)
                self._end()
            case _:
                assert_never(command)

    async def connect_agent(self, agent: AgentEndpoint) -> bool:
        if self.ended.is_set():
            return False
        if self._failing_agent_legs > 0:
            self._failing_agent_legs -= 1
            self._say(Speaker.SYSTEM, LineKind.AGENT_FAILED, f"{agent.display_name}'s leg failed")
            return False
        self._stop_playing()
        if self._hang_up_timer is not None:
            self._hang_up_timer.cancel()
            self._hang_up_timer = None
        self.agent = agent
        text = f"connected to {agent.display_name} ({agent.agent_id})"
        self._say(Speaker.AGENT, LineKind.AGENT, text)
        return True

    # -- the caller's actions -------------------------------------------------------------------

    def press(self, digits: str) -> None:
        self._say(Speaker.CALLER, LineKind.DIGITS, f"presses {digits}")
        self._post(DigitsCollected(digits=digits))

    def hang_up(self) -> None:
        if self.ended.is_set():
            return
        self._say(Speaker.CALLER, LineKind.HANGUP, "the caller hangs up")
        self._end()
        self._post(CallerHungUp())

    async def wait_for(
        self, predicate: Callable[[TranscriptLine], bool], within_s: float = 10.0
    ) -> TranscriptLine:
        """The first transcript line (past or future) matching `predicate`."""
        for line in self.transcript:
            if predicate(line):
                return line
        found: asyncio.Future[TranscriptLine] = self._loop.create_future()

        def check(line: TranscriptLine) -> None:
            if not found.done() and predicate(line):
                found.set_result(line)

        self._listeners.append(check)
        try:
            return await asyncio.wait_for(found, within_s)
        finally:
            self._listeners.remove(check)

    # -- internals ------------------------------------------------------------------------------

    def _prompt_finished(self, prompt_id: str, interruptible: bool) -> None:
        self._playing = None
        self._post(PromptDone(prompt_id=prompt_id))
        if interruptible and self._presses:
            self.press(self._presses.pop(0))

    def _stop_playing(self) -> None:
        if self._playing is not None:
            self._playing.cancel()
            self._playing = None

    def _end(self) -> None:
        self._stop_playing()
        if self._hang_up_timer is not None:
            self._hang_up_timer.cancel()
            self._hang_up_timer = None
        self.ended.set()

    def _post(self, event: Event) -> None:
        if self._handle is not None:
            self._handle.post(event)

    def _say(self, speaker: Speaker, kind: LineKind, text: str) -> None:
        line = TranscriptLine(
            at=self._loop.time() - self._t0, speaker=speaker, kind=kind, text=text
        )
        self.transcript.append(line)
        for listener in list(self._listeners):
            listener(line)
