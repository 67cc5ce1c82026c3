"""The connectors' one exception tree. Layer 3 (connectors).

httpx and MSAL errors are translated where they are caught (`raise CrmTimeout(...)
from exc`), so callers handle only these. Messages go into call traces: they never
contain a secret, a token or an Authorization header.

    DipflowError
    └── ConnectorError
        ├── ConfigError      bad or incomplete connector settings, missing secret
        │                    (also the package's one `dipflow.errors.ConfigError`)
        ├── AuthError        the identity provider refused us, or the API said 401/403
        ├── CrmTimeout       the activity's time budget ran out
        ├── CrmUnavailable   connect error, 5xx, throttled beyond the budget, bad payload
        │   └── CircuitOpen  the breaker is open: failing fast without a request
        └── CrmRequestError  the API answered 4xx (other than 401/403/429)
"""

from __future__ import annotations

from dipflow import errors


class ConnectorError(errors.DipflowError):
    """Base of every error a connector reports."""

    outcome: str = "error"
    """The `HttpOutcome` value this error maps to."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ConfigError(ConnectorError, errors.ConfigError):
    """Connector settings are wrong or a secret is missing.

    One class for both trees: `except dipflow.errors.ConfigError` (a server refusing to
    start) and `except ConnectorError` (anything a connector reports) both catch it."""


class AuthError(ConnectorError):
    """No usable credentials: token request refused, or the API answered 401/403."""


class CrmTimeout(ConnectorError):
    """The request (retries and token fetch included) did not finish within its budget."""

    outcome = "timeout"


class CrmUnavailable(ConnectorError):
    """The service could not be reached or answered with a server error."""


class CircuitOpen(CrmUnavailable):
    """The circuit breaker is open; no request was sent."""


class CrmRequestError(ConnectorError):
    """The service rejected the request (4xx other than auth and throttling)."""
