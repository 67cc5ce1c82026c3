"""`RulesBot`: an offline bot from a rules file, intents by keyword or digit. Layer 3.

For tests, demos and a flow's first steps before a real bot exists. The file (YAML):

    greeting: "Press 1 for your balance, or 0 for an agent."
    input: {max_digits: 1, timeout_s: 5}
    intents:
      - name: balance
        digits: ["1"]
        keywords: [balance, money]
        say: "Your balance is 42 dollars. Goodbye."
        end: handled
        metadata: {topic: billing}
      - name: agent
        digits: ["0"]
        keywords: [agent, person, human]
        say: "Connecting you to an agent."
        end: escalated
    no_match: {say: "Sorry, I did not understand.", retries: 2, end: escalated}
    no_input: {say: "Are you still there?", retries: 1, end: escalated}

An input matches an intent when it is one of its `digits` exactly, or contains one of
its `keywords` as a word (any case). The first intent that matches wins; its name is
put in the metadata as `intent`. An intent without `end` goes on (asks again).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dipflow.connectors.bots.model import (
    BotEnd,
    BotEvent,
    BotInput,
    BotReply,
    BotRequest,
)
from dipflow.connectors.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Input(_Strict):
    max_digits: int = Field(default=1, ge=1, le=64)
    timeout_s: float = Field(default=5.0, gt=0)
    terminator: str | None = Field(default="#", pattern=r"^[#*]$")


class Intent(_Strict):
    name: str = Field(min_length=1)
    digits: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    say: str = ""
    end: BotEnd | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Fallback(_Strict):
    say: str = ""
    retries: int = Field(default=1, ge=0)
    """How many times the bot asks again before it gives up with `end`."""
    end: BotEnd = BotEnd.ESCALATED


class Rules(_Strict):
    greeting: str = ""
    input: _Input = Field(default_factory=_Input)
    intents: list[Intent] = Field(default_factory=list)
    no_match: Fallback = Field(default_factory=Fallback)
    no_input: Fallback = Field(default_factory=Fallback)


def load_rules(path: Path) -> Rules:
    """The rules of `path`; `ConfigError` naming the file and what is wrong."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the bot's rules: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not YAML: {exc}") from None
    try:
        return Rules.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None


class RulesBot:
    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._misses: dict[tuple[str, str, BotEvent], int] = {}

    @classmethod
    def from_file(cls, path: Path) -> RulesBot:
        return cls(load_rules(path))

    async def turn(self, request: BotRequest) -> BotReply:
        rules = self.rules
        ask = BotInput(
            max_digits=rules.input.max_digits,
            timeout_s=rules.input.timeout_s,
            terminator=rules.input.terminator,
        )
        if request.event is BotEvent.START:
            return BotReply(say=rules.greeting, input=ask)
        if request.event is BotEvent.INPUT:
            intent = self._match(request.input)
            if intent is not None:
                metadata = {"intent": intent.name, **intent.metadata}
                return BotReply(
                    say=intent.say,
                    input=None if intent.end else ask,
                    end=intent.end,
                    metadata=metadata,
                )
        fallback = rules.no_input if request.event is BotEvent.NO_INPUT else rules.no_match
        key = (request.call_id, request.session_id, request.event)
        misses = self._misses.get(key, 0) + 1
        self._misses[key] = misses
        if misses > fallback.retries:
            self._misses.pop(key, None)
            return BotReply(say=fallback.say, end=fallback.end, metadata={"intent": ""})
        return BotReply(say=fallback.say, input=ask)

    def _match(self, text: str) -> Intent | None:
        entered = text.strip()
        words = set(re.findall(r"\w+", entered.casefold()))
        for intent in self.rules.intents:
            if entered in intent.digits:
                return intent
            if any(keyword.casefold() in words for keyword in intent.keywords):
                return intent
        return None

    async def aclose(self) -> None:
        return None
