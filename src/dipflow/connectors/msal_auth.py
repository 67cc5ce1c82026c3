"""Microsoft Entra ID tokens through MSAL (OAuth 2.0 client credentials). Layer 3 (connectors).

One `ConfidentialClientApplication` per connector, created lazily (its
constructor already performs tenant discovery over the network) and kept with
its token cache for the connector's life. MSAL is synchronous, so every call
runs in a worker thread (`asyncio.to_thread`), never on the event loop.

Scope is `<org URL>/.default`: "all the application permissions granted to the
app" for the Dataverse resource (Microsoft identity platform, client credentials
flow: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).

MSAL talks HTTP through our `MsalHttpAdapter` (MSAL's documented `http_client`
parameter takes a requests-like object): it runs on a plain synchronous
`httpx.Client`, so tests can give it the same `httpx.MockTransport` as the rest
of the connector. MSAL accepts only `https://` authorities (`authority.canonicalize`);
for a plain-http loopback authority (the emulator) the adapter presents MSAL an
`https://` alias of that host and rewrites the scheme on the wire and in the
discovery document. Anything but loopback must be https.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from dipflow.connectors.config import ConnectorConfig, MsalAuth, is_loopback
from dipflow.connectors.errors import AuthError, ConfigError, CrmTimeout, CrmUnavailable
from dipflow.connectors.tokens import Token

ENTRA_AUTHORITY_HOST = "https://login.microsoftonline.com"


def _form(data: Mapping[str, Any]) -> dict[str, str]:
    """Form fields as requests encodes them: bytes values as text (MSAL passes the signed
    client assertion as bytes; httpx would send its `repr`), None values left out."""
    return {
        str(key): value.decode("utf-8") if isinstance(value, bytes) else str(value)
        for key, value in data.items()
        if value is not None
    }


class MsalHttpAdapter:
    """The requests-compatible `http_client` MSAL expects, over a synchronous httpx client."""

    def __init__(self, client: httpx.Client, *, alias: tuple[str, str] | None = None) -> None:
        self._client = client
        self._alias = alias  # (https prefix MSAL sees, http prefix on the wire)

    def _to_wire(self, url: str) -> str:
        if self._alias and url.startswith(self._alias[0]):
            return self._alias[1] + url[len(self._alias[0]) :]
        return url

    def _from_wire(self, response: httpx.Response) -> httpx.Response:
        if not self._alias or self._alias[1] not in response.text:
            return response
        return httpx.Response(
            response.status_code,
            headers={"content-type": response.headers.get("content-type", "application/json")},
            text=response.text.replace(self._alias[1], self._alias[0]),
            request=response.request,
        )

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        response = self._client.get(
            self._to_wire(url), params=params, headers=headers, **self._timeout(kwargs)
        )
        return self._from_wire(response)

    def post(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        response = self._client.post(
            self._to_wire(url),
            params=params,
            data=_form(data) if isinstance(data, Mapping) else None,
            content=data if isinstance(data, str | bytes) else None,
            headers=headers,
            **self._timeout(kwargs),
        )
        return self._from_wire(response)

    @staticmethod
    def _timeout(kwargs: Mapping[str, Any]) -> dict[str, Any]:
        timeout = kwargs.get("timeout")
        return {"timeout": timeout} if isinstance(timeout, int | float) else {}

    def close(self) -> None:
        self._client.close()


class MsalTokenSource:
    """Fetches tokens with MSAL's `acquire_token_for_client`, in a worker thread."""

    def __init__(
        self,
        config: ConnectorConfig,
        auth: MsalAuth,
        *,
        environ: Mapping[str, str],
        transport: httpx.AsyncBaseTransport | httpx.BaseTransport | None = None,
    ) -> None:
        self._auth = auth
        self._scope = auth.scope or config.default_scope
        self._credential = self._credential_from(auth, environ)
        authority = (auth.authority or f"{ENTRA_AUTHORITY_HOST}/{auth.tenant}").rstrip("/")
        parts = urlsplit(authority)
        alias: tuple[str, str] | None = None
        if parts.scheme == "http":
            if not is_loopback(authority):
                raise ConfigError(
                    f"authority {authority} must be https (plain http only on loopback)"
                )
            alias = (f"https://{parts.netloc}", f"http://{parts.netloc}")
            authority = alias[0] + parts.path
        elif parts.scheme != "https" or not parts.path.strip("/"):
            raise ConfigError(f"authority {authority} must look like https://host/<tenant>")
        self._authority = authority
        self._custom_authority = auth.authority is not None
        sync_transport = transport if isinstance(transport, httpx.BaseTransport) else None
        self._http = MsalHttpAdapter(
            httpx.Client(
                transport=sync_transport,
                timeout=config.timeouts.token_s,
                verify=config.verify_tls,
            ),
            alias=alias,
        )
        self._app: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def _credential_from(auth: MsalAuth, environ: Mapping[str, str]) -> str | dict[str, str]:
        ref = auth.secret_ref()
        if ref is not None:
            return ref.resolve(environ)
        cert = auth.certificate
        assert cert is not None
        try:
            credential = {"private_key": cert.private_key_file.read_text(encoding="utf-8")}
            if cert.thumbprint:
                credential["thumbprint"] = cert.thumbprint
            if cert.public_certificate_file is not None:
                credential["public_certificate"] = cert.public_certificate_file.read_text(
                    encoding="utf-8"
                )
        except OSError as exc:
            raise ConfigError(f"certificate file unreadable: {exc.strerror}") from exc
        if cert.passphrase_env:
            credential["passphrase"] = environ.get(cert.passphrase_env, "")
        return credential

    def _application(self) -> Any:
        if self._app is None:
            import msal

            self._app = msal.ConfidentialClientApplication(
                self._auth.client_id,
                client_credential=self._credential,
                authority=self._authority,
                http_client=self._http,
                # A custom authority (sovereign cloud, the emulator) is not in Microsoft's
                # instance list; skip instance discovery rather than ask login.microsoftonline.com.
                validate_authority=not self._custom_authority,
                instance_discovery=None if not self._custom_authority else False,
                token_cache=msal.TokenCache(),
            )
        return self._app

    def _acquire(self, force: bool) -> Token:
        with self._lock:
            try:
                app = self._application()
                if force:
                    cache = app.token_cache
                    for item in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
                        cache.remove_at(item)
                result = app.acquire_token_for_client(scopes=[self._scope])
            except httpx.TimeoutException as exc:
                raise CrmTimeout(
                    f"Entra ID token request timed out ({type(exc).__name__})"
                ) from exc
            except httpx.HTTPStatusError as exc:
                raise CrmUnavailable(
                    f"Entra ID token endpoint failed: HTTP {exc.response.status_code}"
                ) from exc
            except httpx.HTTPError as exc:
                raise CrmUnavailable(f"Entra ID unreachable ({type(exc).__name__})") from exc
            except ValueError as exc:
                # MSAL reports a wrong tenant / authority as ValueError; its message names
                # the authority URL only.
                raise AuthError(f"Entra ID authority rejected: {str(exc)[:200]}") from exc
            except Exception as exc:  # MSAL has no exception tree of its own
                raise AuthError(f"MSAL token request failed ({type(exc).__name__})") from exc
        if not isinstance(result, dict) or "access_token" not in result:
            error = str((result or {}).get("error", "unknown_error"))[:60]
            description = str((result or {}).get("error_description", "")).splitlines()
            first = description[0][:160] if description else ""
            raise AuthError(f"Entra ID refused the token request: {error}: {first}".rstrip(": "))
        return Token(value=str(result["access_token"]), lifetime_s=float(result["expires_in"]))

    async def fetch(self, force: bool) -> Token:
        return await asyncio.to_thread(self._acquire, force)

    def close(self) -> None:
        self._http.close()
