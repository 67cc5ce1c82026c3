"""Virtual-agent connector settings (`virtual_agents:` in dipflow.yaml). Layer 3.

    virtual_agents:
      - {name: support-bot, kind: webhook, url: "https://bots.example/turn", timeout_s: 4}
      - {name: demo-bot, kind: rules, rules: bots/demo.yaml}

A flow's Virtual Agent activity names one (`connector: support-bot`; an imported Webex
flow maps its connector id with `--connector ID=support-bot`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from dipflow.connectors.bots.model import VirtualAgent
from dipflow.connectors.bots.rules import RulesBot
from dipflow.connectors.bots.webhook import WebhookBot


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookBotSettings(_Strict):
    name: str = Field(min_length=1)
    kind: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    """Budget of one turn (the caller hears silence meanwhile: keep it short)."""
    headers: dict[str, str] = Field(default_factory=dict)


class RulesBotSettings(_Strict):
    name: str = Field(min_length=1)
    kind: Literal["rules"] = "rules"
    rules: Path
    """The rules file (relative to dipflow.yaml)."""


BotSettings = Annotated[WebhookBotSettings | RulesBotSettings, Field(discriminator="kind")]


def build_bot(settings: WebhookBotSettings | RulesBotSettings, base_dir: Path) -> VirtualAgent:
    """The connector (`ConfigError` for a rules file that does not load)."""
    if isinstance(settings, WebhookBotSettings):
        return WebhookBot(settings.url, timeout_s=settings.timeout_s, headers=settings.headers)
    path = settings.rules if settings.rules.is_absolute() else base_dir / settings.rules
    return RulesBot.from_file(path)
