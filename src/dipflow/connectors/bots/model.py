"""What passes between the runtime and a bot, one turn at a time. Layer 3 (connectors).

The wire form (`to_json` / `reply_from_json`) is the webhook's documented shape, so an
HTTP bot and the offline rules bot answer the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dipflow.connectors.errors import ConnectorError


class BotError(ConnectorError):
    """The bot could not be reached, or answered something that is not a reply."""


class BotEvent(StrEnum):
    START = "start"
    """The conversation begins (the flow's parameters and event name come with it)."""
    INPUT = "input"
    """The caller entered something (keys, or text from a text channel)."""
    NO_INPUT = "no_input"
    """The caller entered nothing in time."""


class BotEnd(StrEnum):
    HANDLED = "handled"
    """The bot served the caller (Webex `ENDED`): the flow's `handled` output."""
    ESCALATED = "escalated"
    """The caller wants a person (Webex `ESCALATE`): the flow's `escalated` output."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BotRequest:
    session_id: str
    """One conversation (unique within the call)."""
    call_id: str
    turn: int
    """0 for `start`, then 1, 2..."""
    event: BotEvent
    input: str = ""
    event_name: str | None = None
    """The flow's custom event (Webex `eventName`), sent with `start`."""
    parameters: dict[str, Any] = field(default_factory=dict)
    """The flow's parameters (Webex `botParameters`/`eventData`), sent with `start`."""
    language: str = "en-US"
    ani: str = ""
    dnis: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "call_id": self.call_id,
            "turn": self.turn,
            "event": self.event.value,
            "input": self.input,
            "event_name": self.event_name,
            "parameters": self.parameters,
            "language": self.language,
            "ani": self.ani,
            "dnis": self.dnis,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BotInput:
    """How to collect the caller's answer to what the bot said."""

    max_digits: int = 1
    timeout_s: float = 5.0
    """Nothing entered this long after the prompt: `no_input`."""
    terminator: str | None = "#"


@dataclass(frozen=True, slots=True, kw_only=True)
class BotReply:
    say: str = ""
    """Spoken to the caller (TTS; never SSML)."""
    input: BotInput | None = None
    """Collect an answer; None with no `end`: the bot is asked again with no input."""
    end: BotEnd | None = None
    """The conversation is over (after `say`)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Handed to the flow as `<activity>.MetaData` at the end (merged across turns)."""
    state_event: str = ""
    """`<activity>.StateEventName` (a custom event the bot raised)."""


class VirtualAgent(Protocol):
    """A bot. `turn` raises `BotError` (the flow takes its `error` output)."""

    async def turn(self, request: BotRequest) -> BotReply: ...

    async def aclose(self) -> None: ...


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _InputModel(_Strict):
    max_digits: int = Field(default=1, ge=1, le=64)
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    terminator: str | None = Field(default="#", pattern=r"^[#*]$")


class _ReplyModel(_Strict):
    say: str = ""
    input: _InputModel | None = None
    end: BotEnd | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    state_event: str = ""


def reply_from_json(raw: Any) -> BotReply:
    """A reply in the documented shape; `BotError` naming what is wrong otherwise."""
    try:
        model = _ReplyModel.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'reply'}: {error['msg']}"
            for error in exc.errors()
        )
        raise BotError(f"the bot's reply is not valid: {problems}") from None
    given = model.input
    return BotReply(
        say=model.say,
        input=None
        if given is None
        else BotInput(
            max_digits=given.max_digits, timeout_s=given.timeout_s, terminator=given.terminator
        ),
        end=model.end,
        metadata=dict(model.metadata),
        state_event=model.state_event,
    )
