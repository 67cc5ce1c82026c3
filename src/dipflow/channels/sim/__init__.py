"""The simulated caller channel (in process, no audio): `SimCaller`."""

from __future__ import annotations

from dipflow.channels.sim.caller import CHARS_PER_SECOND, SimCaller, Speaker, TranscriptLine

__all__ = ["CHARS_PER_SECOND", "SimCaller", "Speaker", "TranscriptLine"]
