"""The root of every exception dipflow raises on purpose. Layer 0 (shared by all layers).

Each layer has one documented root under `DipflowError` (`FlowError`, `EngineError`,
`ConnectorError`, `MediaError`, `CenterError`, `ChannelError`, `DipflowRuntimeError`...), so a
caller can catch one layer's failures, or all of dipflow's, without catching bugs
(`TypeError`, `KeyError`...) that must reach a logged boundary instead.
"""

from __future__ import annotations

from collections.abc import Sequence


class DipflowError(Exception):
    """Base of every error dipflow raises deliberately."""


class ConfigError(DipflowError, ValueError):
    """A configuration (dipflow.yaml, a connector's settings, an environment override) that
    cannot be used, located where possible as `file:line:col: message`. The one configuration
    error of the package: the runtime and the connectors raise this same class."""

    def __init__(self, message: str, *, problems: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems) if problems is not None else [message]
        """Each problem on its own, located where possible (`file:line:col: where: what`)."""
