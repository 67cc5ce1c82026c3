"""`dipflow serve` with a registration trunk (kamailio as the provider): the registration's
state shows in /metrics and in the supervisor view."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from dipflow.cli.server import ServerUrls, serve_runtime
from dipflow.runtime.config import config_from_data
from dipflow.runtime.passwords import hash_password
from tests.sip.sip_host import free_port
from tests.trunks.kamailio import Kamailio

pytestmark = pytest.mark.slow

FLOW = """\
name: hello
start: start
activities:
  start: {kind: start, next: bye}
  bye: {kind: disconnect_contact}
"""


def csrf_from(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


async def test_registration_state_in_metrics_and_supervisor(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(FLOW)
    registrar_port = free_port()
    config = config_from_data(
        {
            "flows": [{"dnis": "*", "flow": "hello.yaml"}],
            "center": {"queues": [{"name": "Q", "teams": ["t"]}]},
            "users": [
                {
                    "username": "sue",
                    "role": "supervisor",
                    "password_hash": hash_password("sue-pass"),
                }
            ],
            "web": {"port": 0, "session_secret": "s" * 32},
            "media": {"tts": "silent"},
            "sip": {
                "host": "127.0.0.1",
                "port": 0,
                "rtp_port_min": 36000,
                "rtp_port_max": 36100,
                "trunks": [
                    {
                        "name": "carrier",
                        "servers": [{"host": "127.0.0.1", "port": registrar_port}],
                        "auth": {
                            "kind": "registration",
                            "username": "4930123456",
                            "password": "${CARRIER_PASSWORD}",
                            "domain": "carrier.test",
                        },
                        "dids": ["+4930123456"],
                    }
                ],
            },
        },
        environ={"CARRIER_PASSWORD": "s3cret"},
        base_dir=tmp_path,
    )
    ready: list[ServerUrls] = []
    stop = asyncio.Event()
    async with Kamailio(tmp_path / "k", port=registrar_port, domain="carrier.test",
                        username="4930123456", password="s3cret", max_expires=60):  # fmt: skip
        serving = asyncio.create_task(
            serve_runtime(config, environ={}, on_ready=ready.append, stop=stop)
        )
        try:
            async with asyncio.timeout(30):
                while not ready:  # noqa: ASYNC110 - on_ready is a plain callback
                    await asyncio.sleep(0.05)
            base = ready[0].base
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                async with asyncio.timeout(15):
                    while True:
                        metrics = (await client.get("/metrics")).text
                        if 'dipflow_sip_trunk_registered{trunk="carrier"} 1.0' in metrics:
                            break
                        await asyncio.sleep(0.1)
                assert 'dipflow_sip_trunk_registrations_total{trunk="carrier"} 1.0' in metrics
                assert 'dipflow_sip_trunk_registration_failures{trunk="carrier"} 0.0' in metrics

                page = await client.get("/supervisor")
                await client.post("/login", data={
                    "username": "sue", "password": "sue-pass", "csrf_token": csrf_from(page.text),
                    "next": "/supervisor",
                })  # fmt: skip
                state = (await client.get("/supervisor/state.json")).json()
        finally:
            stop.set()
            await serving
    (trunk,) = state["trunks"]
    assert trunk["trunk"] == "carrier" and trunk["auth"] == "registration"
    assert trunk["state"] == "registered"
    assert trunk["server"] == f"127.0.0.1:{registrar_port}/udp"
    assert 0 < trunk["expires_in_s"] <= 60  # kamailio granted at most 60 s
