"""The app in-process (ASGI transport) and `dipflow crm serve` as a real process."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from dipflow.emulator import EmulatorSettings, create_app
from dipflow.emulator.demo_data import ADA_ID
from dipflow.emulator.testing import free_port


async def test_create_app_in_process_with_asgi_transport() -> None:
    app = create_app(EmulatorSettings(require_auth=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://crm.test") as client:
        response = await client.get(f"/api/data/v9.2/contacts({ADA_ID})?$select=fullname")
        assert response.status_code == 200
        assert response.json()["fullname"] == "Ada Lovelace"
        assert response.json()["@odata.context"].startswith("http://crm.test/api/data/v9.2/")
    app.state.emulator.store.close()


async def test_in_process_token_audience_is_the_base_url() -> None:
    settings = EmulatorSettings()
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://crm.test") as client:
        token = (
            await client.post(
                f"/{settings.tenant}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": settings.client_id,
                    "client_secret": settings.client_secret,
                    "scope": "http://crm.test/.default",
                },
            )
        ).json()["access_token"]
        ok = await client.get(
            "/api/data/v9.2/contacts", headers={"Authorization": f"Bearer {token}"}
        )
        assert ok.status_code == 200
    app.state.emulator.store.close()


@pytest.mark.slow
def test_serve_command_prints_credentials_and_serves() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dipflow",
            "crm",
            "serve",
            "--port",
            str(port),
            "--client-secret",
            "s3cret-value",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"{base}/api/data/v9.2/contacts")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "crm serve did not start"
                assert process.poll() is None, "crm serve exited"
                time.sleep(0.1)
        assert response.status_code == 401
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert f"{base}/api/data/v9.2/" in output
    assert f"{base}/00000000-0000-4000-8000-00000000d1f0/oauth2/v2.0/token" in output
    assert "s3cret-value" in output
