"""A connector checks the certificate of an https CRM, and only a connector that never
speaks TLS (plain http base and token URLs: the emulator on loopback) skips building a
TLS context (which costs a tenth of a small `dipflow call --fast`)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dipflow.connectors import ConnectorConfig, Connectors
from dipflow.engine.commands import HttpRequest
from dipflow.engine.events import HttpOutcome


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = tmp_path / "key.pem", tmp_path / "cert.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"value": []}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        pass  # the client refused our certificate: nothing to answer
    finally:
        writer.close()


@pytest.fixture
async def tls_crm(tmp_path: Path) -> AsyncIterator[str]:
    server = await asyncio.start_server(_answer, "127.0.0.1", 0, ssl=_self_signed(tmp_path))
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"https://127.0.0.1:{port}/"


def _connector(base_url: str, **overrides: object) -> ConnectorConfig:
    return ConnectorConfig.model_validate(
        {"name": "crm", "kind": "http", "base_url": base_url, "auth": {"type": "none"}} | overrides
    )


REQUEST = HttpRequest(request_id="r1", connector="crm", method="GET", path="accounts")


async def test_a_certificate_nobody_vouches_for_is_refused(tls_crm: str) -> None:
    async with Connectors([_connector(tls_crm)], environ={}) as connectors:
        done = await connectors.execute(REQUEST)
    # The same server answers the next test once verification is off: only the
    # certificate stands between them.
    assert done.outcome is HttpOutcome.ERROR and done.attempts == 1


async def test_verify_tls_false_is_the_only_way_past_it(tls_crm: str) -> None:
    async with Connectors([_connector(tls_crm, verify_tls=False)], environ={}) as connectors:
        done = await connectors.execute(REQUEST)
    assert done.outcome is HttpOutcome.SUCCESS and done.body == {"value": []}
