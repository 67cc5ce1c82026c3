"""Credentials for a connector (Authorization or API key header). Layer 3 (connectors).

- `none`: nothing;
- `basic`: RFC 7617, computed once;
- `api_key`: a static header;
- `oauth2_client_credentials`: RFC 6749 section 4.4 against any token endpoint
  (other CRMs, the emulator), over the connector's own pooled httpx client;
- `msal`: Microsoft Entra ID through MSAL's `ConfidentialClientApplication`
  (see `msal_auth`).

Bearer tokens live in a `TokenCache`: fetched once, refreshed before expiry,
dropped after a 401. Secrets are resolved once at start-up and never logged.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import quote_plus

import httpx

from dipflow.connectors.config import (
    ApiKeyAuth,
    AuthConfig,
    BasicAuth,
    ConnectorConfig,
    MsalAuth,
    NoAuth,
    OAuth2ClientCredentials,
)
from dipflow.connectors.errors import AuthError, CrmTimeout, CrmUnavailable
from dipflow.connectors.tokens import Token, TokenCache, TokenFetcher


class Authenticator(Protocol):
    async def headers(self) -> dict[str, str]:
        """Headers to add to a request (may fetch a token)."""
        ...

    def invalidate(self, headers: Mapping[str, str]) -> bool:
        """The API answered 401 to a request sent with `headers`. True when a retry with
        fresh credentials may help (a token was dropped)."""
        ...

    @property
    def token_fetches(self) -> int: ...

    async def aclose(self) -> None: ...


class _Static:
    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    async def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def invalidate(self, headers: Mapping[str, str]) -> bool:
        del headers
        return False

    @property
    def token_fetches(self) -> int:
        return 0

    async def aclose(self) -> None:
        return None


class BearerAuthenticator:
    """`Authorization: Bearer <token>` from a `TokenCache`."""

    def __init__(self, cache: TokenCache, on_close: Callable[[], None] | None = None) -> None:
        self._cache = cache
        self._on_close = on_close

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._cache.get()}"}

    def invalidate(self, headers: Mapping[str, str]) -> bool:
        value = headers.get("Authorization", "")
        if value.startswith("Bearer "):
            self._cache.invalidate(value[len("Bearer ") :])
            return True
        return False

    @property
    def token_fetches(self) -> int:
        return self._cache.fetches

    @property
    def cache(self) -> TokenCache:
        return self._cache

    async def aclose(self) -> None:
        await self._cache.aclose()
        if self._on_close is not None:
            self._on_close()


def _token_error_detail(response: httpx.Response) -> str:
    """`error: error_description` from an OAuth error body (RFC 6749 section 5.2), short."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    error = str(body.get("error", ""))[:60]
    description = (
        str(body.get("error_description", "")).splitlines()[0][:160]
        if body.get("error_description")
        else ""
    )
    return f"HTTP {response.status_code} {error}: {description}".rstrip(": ")


def client_credentials_fetcher(
    client: httpx.AsyncClient,
    *,
    token_url: str,
    client_id: str,
    client_secret: str,
    scope: str | None,
    client_auth: str = "body",
    timeout_s: float = 10.0,
) -> TokenFetcher:
    """A `TokenFetcher` posting the client credentials grant to `token_url`."""

    async def fetch(force: bool) -> Token:
        del force  # no lower cache to bypass
        form = {"grant_type": "client_credentials"}
        if scope:
            form["scope"] = scope
        headers: dict[str, str] = {}
        if client_auth == "basic":
            # RFC 6749 section 2.3.1: form-urlencode id and secret before Basic encoding.
            raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        else:
            form["client_id"] = client_id
            form["client_secret"] = client_secret
        try:
            response = await client.post(token_url, data=form, headers=headers, timeout=timeout_s)
        except httpx.TimeoutException as exc:
            raise CrmTimeout(f"token request timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise CrmUnavailable(f"token endpoint unreachable ({type(exc).__name__})") from exc
        if response.status_code >= 500:
            raise CrmUnavailable(f"token endpoint failed: {_token_error_detail(response)}")
        if response.status_code != 200:
            raise AuthError(
                f"token request refused: {_token_error_detail(response)}",
                status=response.status_code,
            )
        try:
            body = response.json()
            value = str(body["access_token"])
            lifetime = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthError("token endpoint answered without an access_token") from exc
        return Token(value=value, lifetime_s=lifetime)

    return fetch


def build_authenticator(
    config: ConnectorConfig,
    *,
    environ: Mapping[str, str],
    http: httpx.AsyncClient,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Authenticator:
    """The authenticator `config.auth` describes. Raises `ConfigError` for missing secrets."""
    auth: AuthConfig = config.auth
    if isinstance(auth, NoAuth):
        return _Static({})
    if isinstance(auth, BasicAuth):
        secret = auth.secret_ref().resolve(environ)
        raw = f"{auth.username}:{secret}".encode()
        return _Static({"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")})
    if isinstance(auth, ApiKeyAuth):
        return _Static({auth.header: auth.prefix + auth.secret_ref().resolve(environ)})
    if isinstance(auth, OAuth2ClientCredentials):
        fetch = client_credentials_fetcher(
            http,
            token_url=auth.token_url,
            client_id=auth.client_id,
            client_secret=auth.secret_ref().resolve(environ),
            scope=auth.scope or (config.default_scope if config.kind == "dataverse" else None),
            client_auth=auth.client_auth,
            timeout_s=config.timeouts.token_s,
        )
        return BearerAuthenticator(TokenCache(fetch))
    if isinstance(auth, MsalAuth):
        from dipflow.connectors.msal_auth import MsalTokenSource

        source = MsalTokenSource(config, auth, environ=environ, transport=transport)
        return BearerAuthenticator(TokenCache(source.fetch), on_close=source.close)
    raise AssertionError(f"unknown auth type {auth!r}")  # pragma: no cover
