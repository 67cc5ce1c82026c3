"""The SIP/RTP telephony channel: a sans-IO SIP user agent and its asyncio driver.

Layer 4 (channels).

The names below are imported when first used (PEP 562): the configuration needs only
`SipSettings`, and a command that never opens a SIP port (`dipflow call`, `dipflow flow`)
should not pay for loading the whole stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dipflow.channels.sip.agent import SipUserAgent
    from dipflow.channels.sip.server import SipServer
    from dipflow.channels.sip.settings import SipSettings

__all__ = ["SipServer", "SipSettings", "SipUserAgent"]

_HOMES = {
    "SipServer": "dipflow.channels.sip.server",
    "SipSettings": "dipflow.channels.sip.settings",
    "SipUserAgent": "dipflow.channels.sip.agent",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
