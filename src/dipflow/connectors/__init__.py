"""HTTP data dips: connectors (auth, pooling, retries, breaker) and Dataverse helpers.

Public API: `ConnectorConfig` (settings), `Connectors` (the registry the runtime
hands `HttpRequest` commands to), the `ConnectorError` tree, and in
`dipflow.connectors.dynamics` / `dipflow.connectors.screenpop` the Dynamics 365
helpers.
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
