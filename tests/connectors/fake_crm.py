"""A fake Entra ID + Dataverse behind `httpx.MockTransport`, shaped on documented payloads."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx

from dipflow.connectors.config import ConnectorConfig

ORG = "https://contoso.crm.dynamics.com"
APP_ID = "8a18ed00-21e1-ed11-a7c6-000d3a8bcaaa"
"""A real org needs its model-driven app id (ConnectorConfig refuses a dataverse
connector to a non-loopback org without one)."""
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "11111111-2222-4333-8444-555555555555"
SECRET = "s3cr3t-value-never-logged"
TOKEN_URL = "https://login.example.test/oauth2/token"
ENV = {"DYNAMICS_CLIENT_SECRET": SECRET}

ADA_ID = "a1a1a1a1-0000-4000-8000-000000000001"
# GET contacts?$select=fullname,contactid&$filter=...&$expand=incident_customer_contacts(...)
# (shape: Microsoft Learn, "Join tables using OData" / "Query data using the Web API").
ADA_WITH_CASE = {
    "@odata.context": f"{ORG}/api/data/v9.2/$metadata#contacts(fullname,contactid,"
    "incident_customer_contacts(incidentid,title,ticketnumber,createdon))",
    "value": [
        {
            "@odata.etag": 'W/"1234567"',
            "fullname": "Ada Lovelace",
            "contactid": ADA_ID,
            "incident_customer_contacts": [
                {
                    "@odata.etag": 'W/"7654321"',
                    "incidentid": "c0c0c0c0-0000-4000-8000-000000000003",
                    "title": "Router keeps rebooting",
                    "ticketnumber": "CAS-01003-X1Y2Z3",
                    "createdon@OData.Community.Display.V1.FormattedValue": "11/20/2026 9:00 AM",
                    "createdon": "2026-11-20T09:00:00Z",
                }
            ],
            "incident_customer_contacts@odata.nextLink": f"{ORG}/api/data/v9.2/contacts({ADA_ID})"
            "/incident_customer_contacts?$select=incidentid",
        }
    ],
}
ODATA_ERROR_404 = {
    "error": {
        "code": "0x80060888",
        "message": "Resource not found for the segment 'contactz'.",
    }
}


class FakeCrm:
    """Token endpoint, OIDC discovery and a scriptable Dataverse API."""

    def __init__(self, *, token_lifetime_s: float = 3600.0) -> None:
        self.token_lifetime_s = token_lifetime_s
        self.tokens_issued = 0
        self.token_forms: list[dict[str, list[str]]] = []
        self.token_expiry: dict[str, float] = {}
        self.api_requests: list[httpx.Request] = []
        self.seen_expired_token = False
        self.script: list[Callable[[httpx.Request], httpx.Response] | httpx.Response] = []
        self.default: Callable[[httpx.Request], httpx.Response] = lambda r: httpx.Response(
            200, json={"@odata.context": "x", "value": []}
        )
        self.refuse_tokens = False
        self._ids = itertools.count(1)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            base = f"{request.url.scheme}://{request.url.netloc.decode()}/{TENANT}"
            return httpx.Response(
                200,
                json={
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/v2.0",
                },
            )
        if path.endswith("/common/discovery/instance"):
            # Entra instance discovery (what MSAL asks login.microsoftonline.com).
            host = request.url.host
            return httpx.Response(
                200,
                json={
                    "tenant_discovery_endpoint": f"https://{host}/{TENANT}/v2.0/.well-known/"
                    "openid-configuration",
                    "api-version": "1.1",
                    "metadata": [{"preferred_network": host, "aliases": [host]}],
                },
            )
        if path.endswith("/token"):
            return self._token(request)
        return self._api(request)

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        self.token_forms.append(form)
        if self.refuse_tokens or form.get("client_secret", [""])[0] != SECRET:
            return httpx.Response(
                401,
                json={
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
            )
        self.tokens_issued += 1
        token = f"token-{next(self._ids)}"
        self.token_expiry[token] = time.monotonic() + self.token_lifetime_s
        return httpx.Response(
            200,
            json={
                "token_type": "Bearer",
                "expires_in": self.token_lifetime_s,
                "ext_expires_in": self.token_lifetime_s,
                "access_token": token,
            },
        )

    def _api(self, request: httpx.Request) -> httpx.Response:
        self.api_requests.append(request)
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if auth.startswith("Bearer ") and self.token_expiry.get(token, 0) < time.monotonic():
            self.seen_expired_token = True
        if self.script:
            step = self.script.pop(0)
            return step(request) if callable(step) else step
        return self.default(request)


def dataverse_config(**overrides: Any) -> ConnectorConfig:
    data: dict[str, Any] = {
        "name": "dynamics",
        "kind": "dataverse",
        "base_url": ORG,
        "auth": {
            "type": "oauth2_client_credentials",
            "token_url": TOKEN_URL,
            "client_id": CLIENT_ID,
            "client_secret_env": "DYNAMICS_CLIENT_SECRET",
        },
        "retry": {"backoff_s": 0.001, "max_backoff_s": 0.002},
        "app_id": APP_ID,
    }
    data.update(overrides)
    return ConnectorConfig.model_validate(data)
