"""The simulated caller channel (in process, no audio): `SimCaller`, and
`SimOutbound` for callbacks. Layer 4 (channels)."""

from __future__ import annotations

from dipflow.channels.sim.caller import (
    CHARS_PER_SECOND,
    LineKind,
    SimCaller,
    Speaker,
    TranscriptLine,
)
from dipflow.channels.sim.outbound import SimOutbound

__all__ = ["CHARS_PER_SECOND", "LineKind", "SimCaller", "SimOutbound", "Speaker", "TranscriptLine"]
