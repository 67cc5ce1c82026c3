"""HTTP data dips: connectors (auth, pooling, retries, breaker). Layer 3 (connectors).

Public API: `ConnectorConfig` (settings), `Connectors` (the registry the runtime
hands `HttpRequest` commands to), the `ConnectorError` tree, and in
`dipflow.connectors.dynamics` / `dipflow.connectors.screenpop` the Dynamics 365
helpers.

Errors: `ConnectorError` (a `dipflow.errors.DipflowError`) is the root of every error a
connector raises on purpose; `dipflow.connectors.errors` draws the tree. Its `ConfigError`
(bad settings, a missing secret, raised when `Connectors` is built) is also the package's
`dipflow.errors.ConfigError`. `ConnectorClient.execute` raises none of them: it answers
every request with an `HttpCompleted`.
"""

from __future__ import annotations

from dipflow.connectors.config import ConnectorConfig
from dipflow.connectors.errors import (
    AuthError,
    CircuitOpen,
    ConfigError,
    ConnectorError,
    CrmRequestError,
    CrmTimeout,
    CrmUnavailable,
)
from dipflow.connectors.registry import Connectors

__all__ = [
    "AuthError",
    "CircuitOpen",
    "ConfigError",
    "ConnectorConfig",
    "ConnectorError",
    "Connectors",
    "CrmRequestError",
    "CrmTimeout",
    "CrmUnavailable",
]
