"""The simulated caller channel (in process, no audio): `SimCaller`. Layer 4 (channels)."""

from __future__ import annotations

from dipflow.channels.sim.caller import (
    CHARS_PER_SECOND,
    LineKind,
    SimCaller,
    Speaker,
    TranscriptLine,
)

__all__ = ["CHARS_PER_SECOND", "LineKind", "SimCaller", "Speaker", "TranscriptLine"]
