"""The channels' error root. Layer 4 (channels).

Every error a channel raises on purpose (a SIP message that cannot be parsed, an SDP that
cannot be answered, a browser frame that breaks the protocol) derives from `ChannelError`.
"""

from __future__ import annotations

from dipflow.errors import DipflowError


class ChannelError(DipflowError):
    """Base of the channels' deliberate errors."""
