"""The browser caller's message validation (everything the page sends is untrusted)."""

from __future__ import annotations

import json

import pytest

from dipflow.channels.web.protocol import (
    MAX_MESSAGE_BYTES,
    HangUp,
    PlaceCall,
    PressDigits,
    PromptEnded,
    ProtocolError,
    parse_message,
)


def _msg(**fields: object) -> str:
    return json.dumps(fields)


def test_valid_messages_parse() -> None:
    assert parse_message(_msg(type="call", ani="+44 20 7946-0958", dnis="web")) == PlaceCall(
        ani="+442079460958", dnis="web"
    )
    assert parse_message(_msg(type="digits", digits="12*#")) == PressDigits(digits="12*#")
    assert parse_message(_msg(type="prompt_done", prompt_id="p1", interrupted=True)) == (
        PromptEnded(prompt_id="p1", interrupted=True)
    )
    assert parse_message(_msg(type="hangup")) == HangUp()


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        _msg(type="dance"),
        _msg(type="digits", digits="A"),
        _msg(type="digits", digits=""),
        _msg(type="digits", digits="1" * 33),
        _msg(type="digits", digits=1),
        _msg(type="call", ani="+1" + "2" * 40, dnis="web"),
        _msg(type="call", ani="'; DROP TABLE", dnis="web"),
        _msg(type="call", ani="+1 555", dnis="we b"),
        _msg(type="call", ani="---", dnis="web"),
        _msg(type="prompt_done", prompt_id="p", interrupted="yes"),
        _msg(type="prompt_done", prompt_id=""),
        " " * (MAX_MESSAGE_BYTES + 1),
    ],
)
def test_invalid_messages_are_refused(raw: str) -> None:
    with pytest.raises(ProtocolError):
        parse_message(raw)
