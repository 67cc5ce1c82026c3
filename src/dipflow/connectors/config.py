"""Connector settings, as `dipflow.yaml` gives them. Layer 3 (connectors).

What `dipflow.yaml` says about each HTTP / Dynamics 365 connector.

Secrets never live in flow files nor in `dipflow.yaml` itself: a connector names an
environment variable (`client_secret_env: DYNAMICS_CLIENT_SECRET`) or a file
(`client_secret_file: /run/secrets/dynamics`) and the value is read when the
connector starts (see `SecretRef.resolve`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dipflow.connectors.errors import ConfigError

DATAVERSE_API_PATH = "api/data/v9.2/"
"""The Web API root below the organization URL (Dataverse Web API v9.2)."""


ORG_SETTINGS = (
    "web_client_url",
    "app_id",
    "default_region",
    "phone_columns",
    "account_phone_columns",
    "e164_column",
    "e164_only",
    "match_accounts",
    "active_only",
)
"""The names `ConnectorConfig.org_settings()` answers (what `from_connector` may name)."""


def is_loopback(url: str) -> bool:
    """True for `localhost` / 127.0.0.0/8 / ::1 URLs (the emulator, a test double)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Model):
    """Where a secret comes from: an environment variable or a file, never inline."""

    env: str | None = None
    """Name of the environment variable holding the secret."""
    file: Path | None = None
    """Path of a file holding the secret (trailing newline stripped), e.g. a Docker/K8s secret."""

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of `env` or `file`")
        return self

    def describe(self) -> str:
        """Where the secret is read from, for messages (never the value)."""
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def resolve(self, environ: Mapping[str, str]) -> str:
        """The secret's value; `ConfigError` when it is missing or empty."""
        if self.env is not None:
            value = environ.get(self.env, "")
            if not value:
                raise ConfigError(f"secret not set: environment variable {self.env} is empty")
            return value
        assert self.file is not None
        try:
            value = self.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"secret file {self.file} unreadable: {exc.strerror}") from exc
        if not value:
            raise ConfigError(f"secret file {self.file} is empty")
        return value


def _ref(env: str | None, file: Path | None, what: str) -> SecretRef:
    if env is None and file is None:
        raise ValueError(f"{what}: give `{what}_env` or `{what}_file`")
    return SecretRef(env=env, file=file)


class NoAuth(_Model):
    """No authentication (public APIs, or an emulator started without auth)."""

    type: Literal["none"] = "none"


class MsalCertificate(_Model):
    """A certificate credential for MSAL (Entra app registration > Certificates & secrets)."""

    private_key_file: Path
    """PEM private key."""
    thumbprint: str | None = None
    """SHA-1 thumbprint as Entra shows it; omit it to let MSAL use the SHA-256 of
    `public_certificate_file`."""
    public_certificate_file: Path | None = None
    passphrase_env: str | None = None


class MsalAuth(_Model):
    """OAuth 2.0 client credentials against Microsoft Entra ID through MSAL."""

    type: Literal["msal"] = "msal"
    tenant: str
    """Directory (tenant) ID or verified domain."""
    client_id: str
    """Application (client) ID of the app registration."""
    client_secret_env: str | None = None
    client_secret_file: Path | None = None
    certificate: MsalCertificate | None = None
    authority: str | None = None
    """Default `https://login.microsoftonline.com/<tenant>`. A plain-http loopback authority
    (the emulator) is accepted: MSAL only speaks https, so the connector maps it (see msal_auth)."""
    scope: str | None = None
    """Default `<org URL>/.default`: the Dataverse resource, all granted application
    permissions."""

    @model_validator(mode="after")
    def _one_credential(self) -> MsalAuth:
        has_secret = self.client_secret_env is not None or self.client_secret_file is not None
        if has_secret == (self.certificate is not None):
            raise ValueError("give a client secret (`client_secret_env`/`_file`) or a certificate")
        return self

    def secret_ref(self) -> SecretRef | None:
        if self.certificate is not None:
            return None
        return _ref(self.client_secret_env, self.client_secret_file, "client_secret")


class OAuth2ClientCredentials(_Model):
    """A generic OAuth 2.0 token endpoint, client credentials grant (RFC 6749 section 4.4)."""

    type: Literal["oauth2_client_credentials"] = "oauth2_client_credentials"
    token_url: str
    client_id: str
    client_secret_env: str | None = None
    client_secret_file: Path | None = None
    scope: str | None = None
    """Default for a dataverse connector: `<org URL>/.default`."""
    client_auth: Literal["body", "basic"] = "body"
    """Send the client credentials in the form body or as HTTP Basic (RFC 6749 section 2.3.1)."""

    def secret_ref(self) -> SecretRef:
        return _ref(self.client_secret_env, self.client_secret_file, "client_secret")


class BasicAuth(_Model):
    """HTTP Basic (RFC 7617)."""

    type: Literal["basic"] = "basic"
    username: str
    password_env: str | None = None
    password_file: Path | None = None

    def secret_ref(self) -> SecretRef:
        return _ref(self.password_env, self.password_file, "password")


class ApiKeyAuth(_Model):
    """A static key sent in a header on every request."""

    type: Literal["api_key"] = "api_key"
    header: str = "X-API-Key"
    key_env: str | None = None
    key_file: Path | None = None
    prefix: str = ""
    """Prepended to the key, e.g. "Bearer " or "Token "."""

    def secret_ref(self) -> SecretRef:
        return _ref(self.key_env, self.key_file, "key")


AuthConfig = Annotated[
    NoAuth | MsalAuth | OAuth2ClientCredentials | BasicAuth | ApiKeyAuth,
    Field(discriminator="type"),
]


class Timeouts(_Model):
    connect_s: float = Field(default=3.0, gt=0)
    """Cap on TCP+TLS connect per attempt (also bounded by the activity's budget)."""
    token_s: float = Field(default=10.0, gt=0)
    """Budget for one token request when no call is waiting on it."""
    default_request_s: float = Field(default=5.0, gt=0)
    """Used when a request carries no budget of its own."""


class PoolLimits(_Model):
    max_connections: int = Field(default=50, ge=1)
    max_keepalive_connections: int = Field(default=20, ge=0)
    keepalive_expiry_s: float = Field(default=60.0, gt=0)


class BreakerSettings(_Model):
    """Circuit breaker: after `failure_threshold` consecutive failures the connector fails
    fast for `open_s`, then lets one probe through (half-open)."""

    enabled: bool = True
    failure_threshold: int = Field(default=5, ge=1)
    open_s: float = Field(default=10.0, gt=0)


class RetrySettings(_Model):
    backoff_s: float = Field(default=0.05, ge=0)
    """First backoff; doubles per attempt, with full jitter."""
    max_backoff_s: float = Field(default=1.0, ge=0)


Column = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]
"""A Dataverse column logical name."""


class PhoneMatching(_Model):
    """How a caller's number is matched against CRM rows."""

    default_region: str = "US"
    """Region for numbers without a country code (ISO 3166 alpha-2)."""
    phone_columns: list[Column] = Field(
        default_factory=lambda: ["telephone1", "mobilephone", "telephone2"], min_length=1
    )
    """Contact columns compared with `eq` against every variant of the number."""
    account_phone_columns: list[Column] = Field(
        default_factory=lambda: ["telephone1", "telephone2"], min_length=1
    )
    e164_column: str = Field(default="", pattern=r"^([a-z_][a-z0-9_]*)?$")
    """An optional custom column holding the normalized E.164 number (best: one indexed `eq`)."""
    e164_only: bool = False
    """Match only `e164_column` (one index probe) when every record has it filled."""
    match_accounts: bool = True
    """Also look the number up in accounts when no contact matches (a company's main line)."""
    active_only: bool = True
    """Match only active records (`statecode eq 0`). Dataverse's merge deactivates the
    losing duplicate and keeps its phone numbers: without this, every merged customer
    is "two people" and greeted as unknown."""

    @model_validator(mode="after")
    def _e164_only_needs_column(self) -> PhoneMatching:
        if self.e164_only and not self.e164_column:
            raise ValueError("`e164_only` needs `e164_column`")
        return self


class ConnectorConfig(_Model):
    """One named connector, referenced by flows as `connector: <name>`."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: Literal["dataverse", "http"] = "http"
    base_url: str
    """For `dataverse`: the organization URL (`https://contoso.crm.dynamics.com`); requests
    go to `<org>/api/data/v9.2/`. For `http`: the base every request path is relative to."""
    auth: AuthConfig = Field(default_factory=NoAuth)
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra static headers (not secrets)."""
    timeouts: Timeouts = Field(default_factory=Timeouts)
    pool: PoolLimits = Field(default_factory=PoolLimits)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    phone: PhoneMatching = Field(default_factory=PhoneMatching)
    max_concurrent: int = Field(default=16, ge=1, le=1000)
    """Requests this connector has in flight at once, for every call on this node; more
    wait for a slot inside their own time budget. Dataverse refuses a user's 53rd
    concurrent request per web server (service protection limits): nodes sharing one
    application user should together stay well under 52."""
    annotations: list[str] = Field(default_factory=list)
    """OData annotations to ask for (`Prefer: odata.include-annotations="..."`), e.g.
    `OData.Community.Display.V1.FormattedValue`. Empty: no `Prefer` (the bundled flow
    reads none)."""
    app_id: str | None = Field(
        default=None,
        pattern=r"^\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?$",
    )
    """Model-driven app id for screen pops (`main.aspx?appid=...`). Required for a
    `dataverse` connector to a real org: a pop without the org's app opens nothing."""
    web_client_url: str | None = None
    """Where screen pops open (`<web client>/main.aspx`); the organization URL when empty.
    The desktop opens pops to this origin only (`dipflow.web.popguard`)."""
    verify_tls: bool = True

    @model_validator(mode="after")
    def _real_org_needs_app_id(self) -> ConnectorConfig:
        if self.kind == "dataverse" and self.app_id is None and not is_loopback(self.base_url):
            raise ValueError(
                "app_id is required for a Dynamics 365 org: the model-driven app's GUID "
                "(open the app and copy `appid=` from the address bar, or Power Apps > Apps > "
                "... > Details); screen pops open that app"
            )
        return self

    def org_settings(self) -> dict[str, Any]:
        """The org's settings, as flows read them (`from_connector: <name>.<setting>`).

        One source of truth: the bundled flow, screen pops and `dipflow crm check`
        all take these from the connector (see `ORG_SETTINGS`).
        """
        phone = self.phone
        return {
            "web_client_url": (self.web_client_url or self.org_url).rstrip("/"),
            "app_id": self.app_id.strip("{}").lower() if self.app_id else None,
            "default_region": phone.default_region,
            "phone_columns": ",".join(phone.phone_columns),
            "account_phone_columns": ",".join(phone.account_phone_columns),
            "e164_column": phone.e164_column,
            "e164_only": phone.e164_only,
            "match_accounts": phone.match_accounts,
            "active_only": phone.active_only,
        }

    @property
    def org_url(self) -> str:
        """The base URL without trailing slash (for dataverse: the organization URL)."""
        url = self.base_url.rstrip("/")
        if self.kind == "dataverse" and url.endswith("/api/data/v9.2"):
            url = url[: -len("/api/data/v9.2")]
        return url

    @property
    def api_root(self) -> str:
        """Where relative request paths resolve, always ending with '/'."""
        if self.kind == "dataverse":
            return f"{self.org_url}/{DATAVERSE_API_PATH}"
        return self.base_url.rstrip("/") + "/"

    @property
    def default_scope(self) -> str:
        """`<org URL>/.default`: every application permission granted on the resource."""
        return f"{self.org_url}/.default"
