"""Types the runtime configuration borrows from other areas (one place to re-export them).
Layer 5 (runtime).
"""

from __future__ import annotations

from dipflow.center.config import CenterConfig
from dipflow.channels.sip.settings import SipSettings
from dipflow.connectors.bots import BotSettings
from dipflow.connectors.config import ConnectorConfig

__all__ = ["BotSettings", "CenterConfig", "ConnectorConfig", "SipSettings"]
