"""The runtime's error root. Layer 5 (runtime).

    DipflowError (dipflow.errors)
    ├── ConfigError          dipflow.yaml (or an override) that cannot be used: `problems`
    │                        lists each as `file:line:col: where: what` (shared with connectors)
    └── DipflowRuntimeError  the runtime's own deliberate errors
        ├── RuntimeStartError  a flow that does not load, a connector that cannot be built
        ├── YamlSourceError    a YAML file that cannot be read or parsed (becomes ConfigError)
        └── EnvError           a bad environment override (becomes ConfigError)

A failure of a lower layer during a call (`CenterError`, `ConnectorError`, `MediaError`,
`ChannelError`) is not wrapped: the session turns it into the event that sends the flow
down its error path, and logs it at warning level. Anything else is a bug, logged with its
traceback at the boundary that caught it.
"""

from __future__ import annotations

from dipflow.errors import ConfigError, DipflowError

__all__ = ["ConfigError", "DipflowRuntimeError", "RuntimeStartError"]


class DipflowRuntimeError(DipflowError):
    """Base of the runtime's deliberate errors."""


class RuntimeStartError(DipflowRuntimeError):
    """The runtime cannot start (a flow that does not load, a store that does not answer)."""
