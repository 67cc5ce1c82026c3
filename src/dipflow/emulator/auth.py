"""Azure AD v2.0 client-credentials token endpoint and the API's credential check.

Shapes follow the Microsoft identity platform docs ("OAuth 2.0 client
credentials flow"): the token response is
`{"token_type": "Bearer", "expires_in": N, "ext_expires_in": N, "access_token": ...}`
and errors are `{"error": ..., "error_description": "AADSTSnnnn: ...", "error_codes": [...],
"timestamp": ..., "trace_id": ..., "correlation_id": ...}`. Tokens here are HS256
JWTs (the real ones are RS256) whose signature, `exp` and `aud` the API verifies.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from dipflow.emulator.settings import EmulatorSettings

SCOPE_SUFFIX = "/.default"


class TokenError(Exception):
    """An AAD error answer: HTTP status, OAuth `error`, AADSTS number and text."""

    def __init__(self, *, status: int, error: str, aadsts: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.description = description

    def body(self) -> dict[str, object]:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        trace = str(uuid.uuid4())
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.aadsts}: {self.description} "
            f"Trace ID: {trace} Timestamp: {now}",
            "error_codes": [self.aadsts],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": str(uuid.uuid4()),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedToken:
    access_token: str
    expires_in: int


def normalize_resource(url: str) -> str:
    return url.rstrip("/")


def issue_token(
    settings: EmulatorSettings,
    *,
    tenant: str,
    form: dict[str, str],
    expected_resource: str,
    now: float | None = None,
) -> IssuedToken:
    """Check a client-credentials request and mint a token, or raise `TokenError`."""
    if tenant != settings.tenant:
        raise TokenError(
            status=400,
            error="invalid_request",
            aadsts=90002,
            description=f"Tenant '{tenant}' not found.",
        )
    for required in ("grant_type", "client_id", "scope"):
        if not form.get(required):
            raise TokenError(
                status=400,
                error="invalid_request",
                aadsts=900144,
                description=f"The request body must contain the following parameter: '{required}'.",
            )
    if form["grant_type"] != "client_credentials":
        raise TokenError(
            status=400,
            error="unsupported_grant_type",
            aadsts=70003,
            description=f"The app requested an unsupported grant type '{form['grant_type']}'.",
        )
    if not hmac.compare_digest(form["client_id"].encode(), settings.client_id.encode()):
        raise TokenError(
            status=400,
            error="unauthorized_client",
            aadsts=700016,
            description=f"Application with identifier '{form['client_id']}' was not found "
            f"in the directory '{tenant}'.",
        )
    secret = form.get("client_secret", "")
    if not secret:
        raise TokenError(
            status=401,
            error="invalid_client",
            aadsts=7000218,
            description="The request body must contain the following parameter: "
            "'client_assertion' or 'client_secret'.",
        )
    if not hmac.compare_digest(secret.encode(), settings.client_secret.encode()):
        raise TokenError(
            status=401,
            error="invalid_client",
            aadsts=7000215,
            description="Invalid client secret provided. Ensure the secret being sent in "
            "the request is the client secret value, not the client secret ID, for a "
            f"secret added to app '{settings.client_id}'.",
        )
    scope = form["scope"].strip()
    if not scope.endswith(SCOPE_SUFFIX) or " " in scope:
        raise TokenError(
            status=400,
            error="invalid_scope",
            aadsts=1002012,
            description=f"The provided value for scope {scope} is not valid. Client "
            "credential flows must have a scope value with /.default suffixed to the "
            "resource identifier (application ID URI).",
        )
    resource = normalize_resource(scope[: -len(SCOPE_SUFFIX)])
    if resource != normalize_resource(expected_resource):
        raise TokenError(
            status=400,
            error="invalid_resource",
            aadsts=500011,
            description=f"The resource principal named {resource} was not found in the "
            f"tenant named {tenant}.",
        )
    moment = now if now is not None else time.time()
    issued_at = int(moment)
    claims = {
        "aud": resource,
        "iss": f"https://sts.windows.net/{tenant}/",
        "iat": issued_at,
        "nbf": issued_at,
        # Round up: a token must live at least `expires_in` seconds, never a few ms less.
        "exp": math.ceil(moment + settings.token_lifetime_s),
        "appid": settings.client_id,
        "tid": tenant,
        "sub": settings.client_id,
        "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, settings.client_id)),
        "jti": str(uuid.uuid4()),
        "ver": "1.0",
    }
    token = jwt.encode(claims, settings.signing_key, algorithm="HS256")
    return IssuedToken(access_token=token, expires_in=settings.token_lifetime_s)


class AuthFailure(Exception):
    """Why a data API request is refused (401)."""


def check_credentials(
    settings: EmulatorSettings,
    *,
    authorization: str | None,
    api_key: str | None,
    expected_audience: str,
) -> None:
    """Accept a valid bearer token, configured Basic credentials or API key."""
    if api_key is not None:
        if any(hmac.compare_digest(api_key.encode(), k.encode()) for k in settings.api_keys):
            return
        raise AuthFailure("The API key is not valid.")
    if not authorization:
        raise AuthFailure("The request has no Authorization header.")
    scheme, _, credentials = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        _check_bearer(settings, credentials.strip(), expected_audience)
        return
    if scheme == "basic" and settings.basic_users:
        _check_basic(settings, credentials.strip())
        return
    raise AuthFailure(f"The authorization scheme '{scheme}' is not accepted.")


def _check_bearer(settings: EmulatorSettings, token: str, audience: str) -> None:
    try:
        jwt.decode(
            token,
            settings.signing_key,
            algorithms=["HS256"],
            audience=normalize_resource(audience),
            options={"require": ["exp", "aud", "iat"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthFailure("The access token has expired.") from None
    except jwt.InvalidAudienceError:
        raise AuthFailure(f"The access token's audience is not '{audience}'.") from None
    except jwt.PyJWTError:
        raise AuthFailure("The access token is invalid.") from None


def _check_basic(settings: EmulatorSettings, credentials: str) -> None:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthFailure("The Basic credentials are malformed.") from None
    user, sep, password = decoded.partition(":")
    expected = settings.basic_users.get(user)
    if not sep or expected is None or not hmac.compare_digest(password.encode(), expected.encode()):
        raise AuthFailure("The Basic credentials are not valid.")
