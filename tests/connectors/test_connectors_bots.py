"""Virtual-agent connectors: the webhook bot over real HTTP, the offline rules bot."""

from __future__ import annotations

from pathlib import Path

import pytest

from dipflow.connectors.bots import (
    BotEnd,
    BotError,
    BotEvent,
    BotRequest,
    RulesBot,
    WebhookBot,
)
from dipflow.connectors.bots.rules import load_rules
from dipflow.connectors.errors import ConfigError
from tests.connectors.bot_server import running_bot

RULES = """
greeting: "Press 1 for your balance, or 0 for an agent."
input: {max_digits: 1, timeout_s: 4}
intents:
  - {name: balance, digits: ["1"], keywords: [balance], say: "42 dollars.", end: handled,
     metadata: {topic: billing}}
  - {name: agent, digits: ["0"], keywords: [agent, human], say: "Connecting.", end: escalated}
  - {name: hours, digits: ["2"], say: "We open at nine."}
no_match: {say: "Sorry?", retries: 1, end: escalated}
no_input: {say: "Still there?", retries: 0, end: handled}
"""


def request(event: BotEvent, entered: str = "", *, turn: int = 1) -> BotRequest:
    return BotRequest(session_id="s1", call_id="c1", turn=turn, event=event, input=entered)


@pytest.fixture
def rules_bot(tmp_path: Path) -> RulesBot:
    path = tmp_path / "bot.yaml"
    path.write_text(RULES)
    return RulesBot.from_file(path)


async def test_the_rules_bot_greets_and_matches_digits_and_keywords(rules_bot: RulesBot) -> None:
    start = await rules_bot.turn(request(BotEvent.START, turn=0))
    assert start.say.startswith("Press 1") and start.input is not None
    assert start.input.timeout_s == 4 and start.end is None
    balance = await rules_bot.turn(request(BotEvent.INPUT, "1"))
    assert (balance.say, balance.end) == ("42 dollars.", BotEnd.HANDLED)
    assert balance.metadata == {"intent": "balance", "topic": "billing"}
    words = await rules_bot.turn(request(BotEvent.INPUT, "I want a HUMAN please"))
    assert words.end is BotEnd.ESCALATED and words.metadata["intent"] == "agent"
    hours = await rules_bot.turn(request(BotEvent.INPUT, "2"))
    assert hours.end is None and hours.input is not None  # says it, then asks again


async def test_the_rules_bot_gives_up_after_its_retries(rules_bot: RulesBot) -> None:
    first = await rules_bot.turn(request(BotEvent.INPUT, "9"))
    assert (first.say, first.end) == ("Sorry?", None)
    second = await rules_bot.turn(request(BotEvent.INPUT, "8"))
    assert second.end is BotEnd.ESCALATED
    silent = await rules_bot.turn(request(BotEvent.NO_INPUT))
    assert silent.end is BotEnd.HANDLED  # no retries for no input


def test_a_rules_file_that_is_wrong_says_where(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("intents:\n  - {name: x, end: maybe}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: intents\.0\.end"):
        load_rules(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")


async def test_the_webhook_bot_talks_json_over_http() -> None:
    with running_bot() as server:
        bot = WebhookBot(server.url, timeout_s=2)
        try:
            start = BotRequest(
                session_id="s1",
                call_id="c1",
                turn=0,
                event=BotEvent.START,
                parameters={"customer": "Ada"},
                event_name="welcome",
                ani="+14155550123",
            )
            reply = await bot.turn(start)
            assert reply.say == "Hello Ada. Press 1 for your order, 0 for an agent."
            assert reply.input is not None and reply.input.max_digits == 1
            done = await bot.turn(request(BotEvent.INPUT, "1"))
            assert done.end is BotEnd.HANDLED and done.metadata["order"] == "A-17"
        finally:
            await bot.aclose()
        sent = server.requests[0]
        assert sent["event"] == "start" and sent["event_name"] == "welcome"
        assert sent["ani"] == "+14155550123" and sent["parameters"] == {"customer": "Ada"}


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("error", "answered 500"),
        ("garbage", "not JSON"),
        ("wrong", "not valid: say"),
        ("slow", "did not answer in time"),
    ],
)
async def test_a_webhook_bot_that_misbehaves_is_a_bot_error(mode: str, message: str) -> None:
    with running_bot(mode) as server:
        bot = WebhookBot(server.url, timeout_s=0.5)
        try:
            with pytest.raises(BotError, match=message):
                await bot.turn(request(BotEvent.START, turn=0))
        finally:
            await bot.aclose()


async def test_an_unreachable_webhook_bot_is_a_bot_error() -> None:
    from dipflow.emulator.testing import free_port

    bot = WebhookBot(f"http://127.0.0.1:{free_port()}/turn", timeout_s=1)
    try:
        with pytest.raises(BotError, match="unreachable"):
            await bot.turn(request(BotEvent.START, turn=0))
    finally:
        await bot.aclose()
