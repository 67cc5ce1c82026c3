"""The token endpoint (Azure AD v2.0 client credentials) and the API's credential checks."""

from __future__ import annotations

import base64
import time

import httpx
import jwt
import pytest

from dipflow.emulator.settings import EmulatorSettings
from dipflow.emulator.testing import RunningEmulator, running_emulator


def _form(crm: RunningEmulator, **overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": crm.client_id,
        "client_secret": crm.client_secret,
        "scope": crm.scope,
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v != ""}


def test_token_response_shape_and_claims(crm: RunningEmulator) -> None:
    before = crm.stats()["tokens_issued"]
    response = httpx.post(crm.token_url, data=_form(crm))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == body["ext_expires_in"] == 3600
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == crm.base_url
    assert claims["appid"] == crm.client_id
    assert claims["tid"] == crm.tenant
    assert 3600 <= claims["exp"] - claims["iat"] <= 3601
    assert crm.stats()["tokens_issued"] == before + 1


@pytest.mark.parametrize(
    ("overrides", "status", "error", "aadsts"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client", "AADSTS7000215"),
        ({"client_secret": ""}, 401, "invalid_client", "AADSTS7000218"),
        (
            {"client_id": "00000000-0000-0000-0000-000000000000"},
            400,
            "unauthorized_client",
            "AADSTS700016",
        ),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", "AADSTS70003"),
        (
            {"scope": "https://org.crm.dynamics.com/.default"},
            400,
            "invalid_resource",
            "AADSTS500011",
        ),
        ({"scope": "user.read"}, 400, "invalid_scope", "AADSTS1002012"),
        ({"scope": ""}, 400, "invalid_request", "AADSTS900144"),
    ],
)
def test_token_errors_are_aad_shaped(
    crm: RunningEmulator, overrides: dict[str, str], status: int, error: str, aadsts: str
) -> None:
    response = httpx.post(crm.token_url, data=_form(crm, **overrides))
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_description"].startswith(f"{aadsts}: ")
    assert body["error_codes"] == [int(aadsts.removeprefix("AADSTS"))]
    assert "access_token" not in body


def test_unknown_tenant(crm: RunningEmulator) -> None:
    url = crm.token_url.replace(crm.tenant, "other-tenant")
    response = httpx.post(url, data=_form(crm))
    assert response.status_code == 400
    assert response.json()["error_description"].startswith("AADSTS90002")


def test_openid_configuration_points_at_token_endpoint(crm: RunningEmulator) -> None:
    body = httpx.get(f"{crm.base_url}/{crm.tenant}/v2.0/.well-known/openid-configuration").json()
    assert body["token_endpoint"] == crm.token_url


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer not-a-jwt",
        "Bearer "
        + jwt.encode(
            {"aud": "x", "exp": 9999999999, "iat": 1},
            "a-different-signing-key-of-32-bytes-or-more",
            algorithm="HS256",
        ),
        "Basic " + base64.b64encode(b"user:pass").decode(),
        "Negotiate abc",
    ],
)
def test_data_api_refuses_missing_or_bad_credentials(
    crm: RunningEmulator, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(crm.api_url + "contacts", headers=headers)
    assert response.status_code == 401
    # Dataverse's 401 has an empty body; the reason travels in headers only.
    assert response.content == b""
    assert response.headers["401_error_reason"]
    assert response.headers["www-authenticate"].startswith("Bearer authorization_uri=")


def test_token_for_another_audience_is_refused(crm: RunningEmulator) -> None:
    forged = jwt.encode(
        {
            "aud": "https://org.crm.dynamics.com",
            "exp": int(time.time()) + 60,
            "iat": int(time.time()),
        },
        crm.settings.signing_key,
        algorithm="HS256",
    )
    response = httpx.get(crm.api_url + "contacts", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert "audience" in response.headers["401_error_reason"]


@pytest.mark.slow
def test_expired_token_is_refused() -> None:
    with running_emulator(token_lifetime_s=2) as crm:
        token = crm.token()
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(crm.api_url + "contacts", headers=headers).status_code == 200
        time.sleep(3.1)
        response = httpx.get(crm.api_url + "contacts", headers=headers)
        assert response.status_code == 401
        assert "expired" in response.headers["401_error_reason"]
        fresh = crm.token()
        assert (
            httpx.get(
                crm.api_url + "contacts", headers={"Authorization": f"Bearer {fresh}"}
            ).status_code
            == 200
        )


def test_basic_and_api_key_auth_when_configured() -> None:
    settings = EmulatorSettings(basic_users={"svc": "s3cret"}, api_keys=frozenset({"key-123"}))
    with running_emulator(settings=settings) as crm:
        good_basic = "Basic " + base64.b64encode(b"svc:s3cret").decode()
        bad_basic = "Basic " + base64.b64encode(b"svc:nope").decode()
        url = crm.api_url + "contacts"
        assert httpx.get(url, headers={"Authorization": good_basic}).status_code == 200
        assert httpx.get(url, headers={"Authorization": bad_basic}).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Basic %%%"}).status_code == 401
        assert httpx.get(url, headers={"x-api-key": "key-123"}).status_code == 200
        assert httpx.get(url, headers={"x-api-key": "key-456"}).status_code == 401


def test_auth_can_be_switched_off() -> None:
    with running_emulator(require_auth=False) as crm:
        assert httpx.get(crm.api_url + "contacts").status_code == 200


def test_client_secret_basic_is_accepted(crm: RunningEmulator) -> None:
    raw = f"{crm.client_id}:{crm.client_secret}".encode()
    response = httpx.post(
        crm.token_url,
        data={"grant_type": "client_credentials", "scope": crm.scope},
        headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
    )
    assert response.status_code == 200
    wrong = base64.b64encode(f"{crm.client_id}:nope".encode()).decode()
    refused = httpx.post(
        crm.token_url,
        data={"grant_type": "client_credentials", "scope": crm.scope},
        headers={"Authorization": f"Basic {wrong}"},
    )
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


def test_token_endpoint_survives_a_broken_body(crm: RunningEmulator) -> None:
    response = httpx.post(
        crm.token_url,
        content=b"--x\r\nbroken",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
