"""Virtual-agent connectors: the bots a flow's Virtual Agent activity talks to. Layer 3.

A bot is a `VirtualAgent`: one `turn(BotRequest) -> BotReply` per exchange. Two kinds
ship: `WebhookBot` (an HTTP service, JSON in and out: the shape is in docs/connectors.md)
and `RulesBot` (offline, intents by keyword or digit from a YAML rules file, for tests
and demos). The runtime drives the conversation (plays what the bot says, collects the
caller's keys, hands the bot's end to the flow). See `settings.build_bot`.
"""

from dipflow.connectors.bots.model import (
    BotEnd,
    BotError,
    BotEvent,
    BotInput,
    BotReply,
    BotRequest,
    VirtualAgent,
)
from dipflow.connectors.bots.rules import RulesBot
from dipflow.connectors.bots.settings import (
    BotSettings,
    RulesBotSettings,
    WebhookBotSettings,
    build_bot,
)
from dipflow.connectors.bots.webhook import WebhookBot

__all__ = [
    "BotEnd",
    "BotError",
    "BotEvent",
    "BotInput",
    "BotReply",
    "BotRequest",
    "BotSettings",
    "RulesBot",
    "RulesBotSettings",
    "VirtualAgent",
    "WebhookBot",
    "WebhookBotSettings",
    "build_bot",
]
