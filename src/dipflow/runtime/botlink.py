"""A conversation with a virtual agent (a bot), carried out for one call. Layer 5 (runtime).

The engine hands the caller over with `StartVirtualAgent` and waits for
`VirtualAgentEnded`. Meanwhile this drives the exchange: ask the bot (`turn`), play what
it says, collect the caller's keys (barge-in allowed), ask again, until the bot ends
(`handled`/`escalated`) or fails (`error`: unreachable, a reply of the wrong shape, too
many turns). The session routes the call's `PromptDone` (of the bot's prompts) and
`DigitsCollected` events here while the conversation runs, so the flow never sees them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final

from dipflow.connectors.bots import BotError, BotEvent, BotInput, BotRequest, VirtualAgent
from dipflow.engine.commands import Play, StartVirtualAgent
from dipflow.engine.events import (
    DigitsCollected,
    Event,
    PromptDone,
    VirtualAgentEnded,
    VirtualAgentOutcome,
)

MAX_TURNS: Final = 50
"""A bot that never ends the conversation is taken as broken: the flow gets `error`."""
INTER_DIGIT_S: Final = 3.0
PROMPT_GUARD_S: Final = 120.0
"""A channel always reports the end of a prompt; this only keeps a lost report from
holding the caller for ever."""


class BotConversation:
    def __init__(
        self,
        *,
        bot: VirtualAgent,
        command: StartVirtualAgent,
        call_id: str,
        ani: str,
        dnis: str,
        play: Callable[[Play], Awaitable[None]],
        post: Callable[[Event], None],
    ) -> None:
        self._bot = bot
        self._command = command
        self._call_id = call_id
        self._ani = ani
        self._dnis = dnis
        self._play = play
        self._post = post
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._prefix = f"bot:{command.session_id}:"
        self._said = 0
        self._keys = ""
        self._lines: list[str] = []

    def takes(self, event: Event) -> bool:
        """Keep `event` for the conversation (True) or leave it to the engine."""
        mine = isinstance(event, DigitsCollected) or (
            isinstance(event, PromptDone) and event.prompt_id.startswith(self._prefix)
        )
        if mine:
            self._events.put_nowait(event)
        return mine

    async def run(self) -> None:
        metadata: dict[str, Any] = {}
        state_event = ""
        request = self._request(0, BotEvent.START)
        try:
            for turn in range(1, MAX_TURNS + 1):
                reply = await self._bot.turn(request)
                metadata.update(reply.metadata)
                state_event = reply.state_event or state_event
                if reply.say:
                    self._lines.append(f"bot: {reply.say}")
                    await self._say(reply.say)
                if reply.end is not None:
                    self._end(VirtualAgentOutcome(reply.end.value), metadata, state_event)
                    return
                entered = await self._collect(reply.input or BotInput())
                if entered:
                    self._lines.append(f"caller: {entered}")
                event = BotEvent.INPUT if entered else BotEvent.NO_INPUT
                request = self._request(turn, event, entered)
            raise BotError(f"the bot did not end the conversation in {MAX_TURNS} turns")
        except BotError as exc:
            self._end(VirtualAgentOutcome.ERROR, metadata, state_event, error=str(exc))
        except TimeoutError:
            error = "the channel never reported the end of the bot's prompt"
            self._end(VirtualAgentOutcome.ERROR, metadata, state_event, error=error)

    def _request(self, turn: int, event: BotEvent, entered: str = "") -> BotRequest:
        command = self._command
        start = event is BotEvent.START
        return BotRequest(
            session_id=command.session_id,
            call_id=self._call_id,
            turn=turn,
            event=event,
            input=entered,
            event_name=command.event_name if start else None,
            parameters=dict(command.parameters) if start else {},
            language=command.language,
            ani=self._ani,
            dnis=self._dnis,
        )

    async def _say(self, text: str) -> None:
        """Play `text`; keys pressed meanwhile are kept (barge-in) for the answer."""
        self._said += 1
        prompt_id = f"{self._prefix}{self._said}"
        self._keys = ""
        await self._play(
            Play(
                prompt_id=prompt_id, text=text, language=self._command.language, interruptible=True
            )
        )
        async with asyncio.timeout(PROMPT_GUARD_S):
            while True:
                event = await self._events.get()
                if isinstance(event, DigitsCollected):
                    self._keys += event.digits
                elif isinstance(event, PromptDone) and event.prompt_id == prompt_id:
                    return

    async def _collect(self, wanted: BotInput) -> str:
        """The caller's answer: up to `max_digits` keys, ended by the terminator or a
        pause; "" when nothing comes within `timeout_s`."""
        keys, self._keys = self._keys, ""
        while True:
            done = self._complete(keys, wanted)
            if done is not None:
                return done
            wait_s = INTER_DIGIT_S if keys else wanted.timeout_s
            try:
                async with asyncio.timeout(wait_s):
                    event = await self._events.get()
            except TimeoutError:
                return keys
            if isinstance(event, DigitsCollected):
                keys += event.digits

    @staticmethod
    def _complete(keys: str, wanted: BotInput) -> str | None:
        if wanted.terminator and wanted.terminator in keys:
            return keys.split(wanted.terminator, 1)[0]
        if len(keys) >= wanted.max_digits:
            return keys[: wanted.max_digits]
        return None

    def _end(
        self,
        outcome: VirtualAgentOutcome,
        metadata: dict[str, Any],
        state_event: str,
        *,
        error: str | None = None,
    ) -> None:
        self._post(
            VirtualAgentEnded(
                session_id=self._command.session_id,
                outcome=outcome,
                metadata=metadata,
                state_event=state_event,
                transcript="\n".join(self._lines),
                error=error,
            )
        )
