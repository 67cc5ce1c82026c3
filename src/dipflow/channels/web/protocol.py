"""The browser caller's JSON messages, parsed and validated without I/O.

Everything the page sends is untrusted: a message is at most `MAX_MESSAGE_BYTES`,
must be a JSON object with a known `type`, digits are DTMF characters only
(`0-9 * #`, like RFC 4733 events 0-11) and the caller number is length-limited
and restricted to what a phone number can contain. Layer 4 (channels).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from dipflow.channels.errors import ChannelError

MAX_MESSAGE_BYTES = 4096
MAX_DIGITS = 32
MAX_NUMBER_CHARS = 32
MAX_PROMPT_ID_CHARS = 200

_DIGITS = re.compile(r"[0-9*#]+")
# What people type into a phone number field: digits with an optional leading +,
# spaces, dashes, dots and parentheses (removed before the number is used).
_NUMBER = re.compile(r"\+?[0-9 ().-]+")
_NUMBER_NOISE = re.compile(r"[ ().-]")
_DNIS = re.compile(r"[A-Za-z0-9+*#._-]{1,32}")


class ProtocolError(ChannelError, ValueError):
    """A message from the page that is malformed or not allowed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceCall:
    ani: str
    """Normalised: `+` and digits only."""
    dnis: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PressDigits:
    digits: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptEnded:
    prompt_id: str
    interrupted: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class HangUp:
    pass


ClientMessage = PlaceCall | PressDigits | PromptEnded | HangUp


def normalize_number(raw: object) -> str:
    """`+1 (415) 555-0123` -> `+14155550123`; `ProtocolError` for anything else."""
    if not isinstance(raw, str) or not raw.strip():
        raise ProtocolError("a phone number is required")
    text = raw.strip()
    if len(text) > MAX_NUMBER_CHARS or not _NUMBER.fullmatch(text):
        raise ProtocolError(
            f"a phone number is up to {MAX_NUMBER_CHARS} characters: digits, an optional"
            " leading +, spaces, dashes, dots and parentheses"
        )
    number = _NUMBER_NOISE.sub("", text)
    if not any(ch.isdigit() for ch in number) or len(number) > 16:
        raise ProtocolError("a phone number has 1 to 15 digits")
    return number


def validate_digits(raw: object) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > MAX_DIGITS or not _DIGITS.fullmatch(raw):
        raise ProtocolError(f"digits are 1 to {MAX_DIGITS} of 0-9, * and #")
    return raw


def _dnis(raw: object) -> str:
    if not isinstance(raw, str) or not _DNIS.fullmatch(raw):
        raise ProtocolError("the dialled number is 1 to 32 of letters, digits and + * # . _ -")
    return raw


def _prompt_id(raw: object) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > MAX_PROMPT_ID_CHARS:
        raise ProtocolError("prompt_id must be a short string")
    return raw


def parse_message(raw: str | bytes) -> ClientMessage:
    """One message from the page; `ProtocolError` says what is wrong with it."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("message is not JSON") from exc
    if not isinstance(data, dict):
        raise ProtocolError("message must be a JSON object")
    kind = data.get("type")
    if kind == "call":
        return PlaceCall(ani=normalize_number(data.get("ani")), dnis=_dnis(data.get("dnis")))
    if kind == "digits":
        return PressDigits(digits=validate_digits(data.get("digits")))
    if kind == "prompt_done":
        interrupted = data.get("interrupted", False)
        if not isinstance(interrupted, bool):
            raise ProtocolError("interrupted must be true or false")
        return PromptEnded(prompt_id=_prompt_id(data.get("prompt_id")), interrupted=interrupted)
    if kind == "hangup":
        return HangUp()
    raise ProtocolError(f"unknown message type {str(kind)[:40]!r}")
