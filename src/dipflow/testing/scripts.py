"""What the simulated world does: scripted caller, agent and HTTP replies.

Test support over Layer 2 (engine); no product module imports it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dipflow.engine.commands import HttpRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpReply:
    """How the simulated connector answers one request.

    `delay_s` longer than the request's `timeout_s` makes it time out; `error` makes it
    fail without a response (connection refused, TLS failure...).
    """

    status: int = 200
    json: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.05
    error: str | None = None

    @classmethod
    def timeout(cls) -> HttpReply:
        return cls(status=0, delay_s=math.inf)

    @classmethod
    def failure(cls, reason: str = "connection refused") -> HttpReply:
        return cls(status=0, error=reason)

    @property
    def body(self) -> Any:
        return self.json if self.json is not None else self.text


HttpResponder = Callable[[HttpRequest], HttpReply]
HttpScript = HttpReply | Sequence[HttpReply] | HttpResponder
"""Per activity id: one reply for every request, successive replies, or a function."""
HttpScripts = Mapping[str, HttpScript] | HttpResponder


class CallerDoes(StrEnum):
    PRESS = "press"
    HANG_UP = "hang_up"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerAction:
    """Something the caller does. The caller's actions happen in the order listed, each
    `after` seconds after the one before it (the first: after the call starts). With
    `when`, the action waits for the next prompt of activity `when` that starts once the
    action before it has happened, and comes `after` seconds into that prompt (so
    `[press("9", when="Menu"), press("1", when="Menu")]` answers the menu, then its
    re-prompt). A menu's no-input and invalid prompts are not occurrences of the menu."""

    does: CallerDoes
    after: float
    digits: str = ""
    when: str | None = None


NEXT_MENU = "<next menu>"
"""`when=NEXT_MENU`: the next prompt of any menu or digit collection (`dipflow call --press`)."""
MENU_KINDS = frozenset({"menu", "collect_digits"})


def press(digits: str, *, after: float = 0.5, when: str | None = None) -> CallerAction:
    """The caller presses `digits` `after` seconds after their previous action (or into the
    prompt of `when`)."""
    return CallerAction(does=CallerDoes.PRESS, digits=digits, after=after, when=when)


def hang_up(*, after: float = 0.0, when: str | None = None) -> CallerAction:
    """The caller hangs up `after` seconds after their previous action (or into the prompt
    of `when`)."""
    return CallerAction(does=CallerDoes.HANG_UP, after=after, when=when)


class AgentDoes(StrEnum):
    ANSWER = "answer"
    HANG_UP = "hang_up"
    QUEUE_UPDATE = "queue_update"
    QUEUE_FAIL = "queue_fail"
    CALLBACK_FAIL = "callback_fail"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAction:
    """Something the contact center does, `after` seconds after the call was first queued
    (every agent action counts from that moment, not from the previous one)."""

    does: AgentDoes
    after: float
    agent_id: str = "agent-1"
    name: str = "Agent"
    position: int = 1
    wait_s: float = 0.0
    reason: str = "no agent available"


def answer(*, after: float, agent_id: str = "agent-1", name: str = "Agent") -> AgentAction:
    """An agent is offered the call and accepts it (`AgentOffered` then `AgentAnswered`)."""
    return AgentAction(does=AgentDoes.ANSWER, after=after, agent_id=agent_id, name=name)


def agent_hang_up(*, after: float, agent_id: str = "agent-1") -> AgentAction:
    return AgentAction(does=AgentDoes.HANG_UP, after=after, agent_id=agent_id)


def queue_update(*, after: float, position: int, wait_s: float) -> AgentAction:
    return AgentAction(does=AgentDoes.QUEUE_UPDATE, after=after, position=position, wait_s=wait_s)


def queue_fail(*, after: float, reason: str = "no agent available") -> AgentAction:
    return AgentAction(does=AgentDoes.QUEUE_FAIL, after=after, reason=reason)


def callback_fail(*, after: float, reason: str = "no answer") -> AgentAction:
    """The callback the flow asked for cannot be placed (`CallbackFailed`)."""
    return AgentAction(does=AgentDoes.CALLBACK_FAIL, after=after, reason=reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueStats:
    """What the simulated center answers a queue_lookup (`position` None: 1 when the
    contact is in that queue, else 0)."""

    position: int | None = None
    estimated_wait_s: float | None = 120.0
    calls_queued: int = 1
    agents_logged_on: int = 2
    agents_available: int = 0
    oldest_wait_s: float = 30.0
    error: str | None = None


class BotOutcome(StrEnum):
    HANDLED = "handled"
    ESCALATED = "escalated"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class BotReply:
    """How a simulated virtual agent ends its conversation, `after` seconds in."""

    outcome: BotOutcome = BotOutcome.ESCALATED
    after: float = 10.0
    metadata: dict[str, Any] = field(default_factory=dict)
    state_event: str = ""
    error: str | None = None


def speech_seconds(text: str | None) -> float:
    """How long a TTS prompt plays: about 15 characters a second, plus a little lead-in."""
    if not text:
        return 3.0  # an audio file
    return round(0.4 + len(text) / 15.0, 3)
