"""MSAL client credentials through our http_client adapter (fake Entra ID on MockTransport)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from dipflow.connectors import ConfigError, Connectors
from dipflow.engine.commands import HttpRequest
from dipflow.engine.events import HttpOutcome
from tests.connectors.fake_crm import CLIENT_ID, ENV, ORG, SECRET, TENANT, FakeCrm, dataverse_config


def msal_config(**auth: object) -> object:
    return dataverse_config(
        auth={
            "type": "msal",
            "tenant": TENANT,
            "client_id": CLIENT_ID,
            "client_secret_env": "DYNAMICS_CLIENT_SECRET",
            **auth,
        }
    )


def get() -> HttpRequest:
    return HttpRequest(request_id="m", connector="dynamics", method="GET", path="WhoAmI")


async def test_msal_token_from_entra_is_reused_across_calls() -> None:
    crm = FakeCrm()
    threads: set[str] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        if "token" in request.url.path or "openid" in request.url.path:
            threads.add(threading.current_thread().name)
        return crm(request)

    config = msal_config()
    async with Connectors([config], environ=ENV, transport=httpx.MockTransport(handler)) as c:  # type: ignore[list-item]
        results = await asyncio.gather(*(c.execute(get()) for _ in range(50)))
        stats = c.stats()["dynamics"]
    assert all(r.outcome is HttpOutcome.SUCCESS for r in results)
    assert crm.tokens_issued == 1 and stats["token_fetches"] == 1
    form = crm.token_forms[0]
    assert form["client_id"] == [CLIENT_ID]
    assert form["scope"] == [f"{ORG}/.default"]
    assert form["grant_type"] == ["client_credentials"]
    # MSAL is synchronous: it must never run on the event loop's thread.
    assert threading.main_thread().name not in threads
    assert crm.api_requests[0].headers["Authorization"] == "Bearer token-1"


async def test_msal_default_authority_is_entra() -> None:
    hosts: list[str] = []
    crm = FakeCrm()

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return crm(request)

    async with Connectors(
        [msal_config()],  # type: ignore[list-item]
        environ=ENV,
        transport=httpx.MockTransport(handler),
    ) as c:
        await c.execute(get())
    assert "login.microsoftonline.com" in hosts


async def test_msal_plain_http_loopback_authority_is_mapped() -> None:
    crm = FakeCrm()
    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return crm(request)

    config = msal_config(authority=f"http://127.0.0.1:8765/{TENANT}")
    async with Connectors([config], environ=ENV, transport=httpx.MockTransport(handler)) as c:  # type: ignore[list-item]
        done = await c.execute(get())
    assert done.outcome is HttpOutcome.SUCCESS
    idp = [u for u in urls if "8765" in u]
    assert idp and all(u.startswith("http://127.0.0.1:8765/") for u in idp)
    assert any(u.endswith("/oauth2/v2.0/token") for u in idp)


def test_msal_plain_http_elsewhere_is_refused() -> None:
    with pytest.raises(ConfigError, match="https"):
        Connectors([msal_config(authority=f"http://login.example.com/{TENANT}")], environ=ENV)  # type: ignore[list-item]


async def test_msal_refusal_is_an_error_output_without_the_secret() -> None:
    crm = FakeCrm()
    crm.refuse_tokens = True
    async with Connectors(
        [msal_config()],  # type: ignore[list-item]
        environ=ENV,
        transport=httpx.MockTransport(crm),
    ) as c:
        done = await c.execute(get())
    assert done.outcome is HttpOutcome.ERROR
    assert "invalid_client" in (done.error or "")
    assert "AADSTS7000215" in (done.error or "")
    assert SECRET not in repr(done)


async def test_msal_401_forces_a_new_token_past_msals_cache() -> None:
    crm = FakeCrm()
    crm.script = [httpx.Response(401)]
    async with Connectors(
        [msal_config()],  # type: ignore[list-item]
        environ=ENV,
        transport=httpx.MockTransport(crm),
    ) as c:
        done = await c.execute(get())
    assert done.outcome is HttpOutcome.SUCCESS
    assert crm.tokens_issued == 2


def test_msal_secret_from_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    config = msal_config(client_secret_env=None, client_secret_file=str(secret_file))
    crm = FakeCrm()

    async def run() -> HttpOutcome:
        async with Connectors([config], environ={}, transport=httpx.MockTransport(crm)) as c:  # type: ignore[list-item]
            return (await c.execute(get())).outcome

    assert asyncio.run(run()) is HttpOutcome.SUCCESS
    assert crm.token_forms[0]["client_secret"] == [SECRET]


def test_msal_needs_exactly_one_credential() -> None:
    with pytest.raises(ValueError, match="client secret"):
        msal_config(client_secret_env=None)


def _self_signed(tmp_path: Path) -> tuple[Path, Path, object]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dipflow-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file = tmp_path / "cert.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file, key.public_key()


async def test_msal_certificate_credential_signs_a_client_assertion(tmp_path: Path) -> None:
    import jwt

    key_file, cert_file, public_key = _self_signed(tmp_path)
    crm = FakeCrm()
    assertions: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            form = parse_qs(request.content.decode())
            assert "client_secret" not in form
            assertion = form["client_assertion"][0]
            assertions.append(assertion)
            assert form["client_assertion_type"] == [
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            ]
            # Present the secret to the fake IdP only once the assertion verifies.
            claims = jwt.decode(
                assertion, public_key, algorithms=["RS256", "PS256"], options={"verify_aud": False}
            )
            assert claims["iss"] == claims["sub"] == CLIENT_ID
            request = httpx.Request(
                "POST",
                request.url,
                data={**{k: v[0] for k, v in form.items()}, "client_secret": SECRET},
            )
        return crm(request)

    config = dataverse_config(
        auth={
            "type": "msal",
            "tenant": TENANT,
            "client_id": CLIENT_ID,
            "certificate": {
                "private_key_file": str(key_file),
                "public_certificate_file": str(cert_file),
            },
        }
    )
    async with Connectors([config], environ={}, transport=httpx.MockTransport(handler)) as c:
        done = await c.execute(get())
    assert done.outcome is HttpOutcome.SUCCESS, done.error
    assert len(assertions) == 1 and crm.tokens_issued == 1
