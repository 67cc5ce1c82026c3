"""The root of every exception dipflow raises on purpose. Layer 0 (shared by all layers).

Each layer has one documented root under `DipflowError` (`FlowError`, `EngineError`,
`ConnectorError`, `MediaError`, `CenterError`, `ChannelError`, `DipflowRuntimeError`...), so a
caller can catch one layer's failures, or all of dipflow's, without catching bugs
(`TypeError`, `KeyError`...) that must reach a logged boundary instead.
"""

from __future__ import annotations


class DipflowError(Exception):
    """Base of every error dipflow raises deliberately."""
