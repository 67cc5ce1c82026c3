"""The SIP/RTP telephony channel: a sans-IO SIP user agent and its asyncio driver.

Layer 4 (channels).
"""

from dipflow.channels.sip.agent import SipUserAgent
from dipflow.channels.sip.server import SipServer
from dipflow.channels.sip.settings import SipSettings

__all__ = ["SipServer", "SipSettings", "SipUserAgent"]
