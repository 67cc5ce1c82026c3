"""Run the emulator in this process, on a loopback port, in a background thread.

The demo (`dipflow demo`, `dipflow call` without a configuration), the tests and the
benchmarks all start it this way; dipflow still reaches it only over HTTP, exactly as
it reaches Dynamics 365. A thread, not the caller's event loop: the emulator's SQLite
work must not stall the calls it answers.

    with running_emulator() as crm:
        token = httpx.post(crm.token_url, data={
            "grant_type": "client_credentials", "client_id": crm.client_id,
            "client_secret": crm.client_secret, "scope": crm.scope}).json()["access_token"]
        httpx.get(crm.api_url + "contacts", headers={"Authorization": f"Bearer {token}"})
        crm.set_faults(error_rate=1.0, error_status=503)
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from dipflow.emulator.app import create_app
from dipflow.emulator.settings import EmulatorSettings, SeedKind
from dipflow.emulator.state import EmulatorState


@dataclass(slots=True, kw_only=True)
class RunningEmulator:
    """Addresses and credentials of an emulator running in this process."""

    base_url: str
    """`http://127.0.0.1:PORT` (no trailing slash)."""
    api_url: str
    """`base_url + "/api/data/v9.2/"`."""
    token_url: str
    tenant: str
    client_id: str
    client_secret: str
    scope: str
    """`base_url + "/.default"`, the client-credentials scope."""
    settings: EmulatorSettings
    state: EmulatorState
    _client: httpx.Client = field(repr=False)

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the fault configuration (fields of `FaultConfig`; unset ones reset)."""
        response = self._client.post("/_emulator/faults", json=faults)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def clear_faults(self) -> None:
        self._client.delete("/_emulator/faults").raise_for_status()

    def stats(self, *, records: bool = False) -> dict[str, Any]:
        """Counters; `records=True` adds row counts per table (slow on big databases)."""
        response = self._client.get(
            "/_emulator/stats", params={"records": "true"} if records else None
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset_stats(self) -> None:
        self._client.post("/_emulator/reset-stats").raise_for_status()

    def token(self) -> str:
        """Fetch an access token with the client credentials (convenience for tests)."""
        response = self._client.post(
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "scope": self.scope,
            },
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the main thread keeps its own handlers
        pass


@contextlib.contextmanager
def running_emulator(
    *,
    seed: str = "demo",
    require_auth: bool = True,
    token_lifetime_s: int = 3600,
    db: str = ":memory:",
    settings: EmulatorSettings | None = None,
    port: int | None = None,
) -> Iterator[RunningEmulator]:
    """Start uvicorn with the emulator in a background thread on a loopback port.

    `port=None` picks a free port; the demo passes a fixed one.
    """
    if settings is None:
        settings = EmulatorSettings(
            db=db, seed=SeedKind(seed), require_auth=require_auth, token_lifetime_s=token_lifetime_s
        )
    app = create_app(settings)
    state: EmulatorState = app.state.emulator
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,  # a request hanging under fault injection must not block exit
    )
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, name=f"crm-emulator-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            raise RuntimeError(f"the CRM emulator did not start on 127.0.0.1:{port}")
        time.sleep(0.01)
    base_url = f"http://127.0.0.1:{port}"
    # Plain HTTP to our own loopback port: no TLS, so no CA bundle to load (70 ms of
    # processor time, a tenth of a small `dipflow call --fast`).
    client = httpx.Client(base_url=base_url, timeout=10, verify=False)  # noqa: S501 - http only
    try:
        yield RunningEmulator(
            base_url=base_url,
            api_url=f"{base_url}/api/data/v9.2/",
            token_url=f"{base_url}/{settings.tenant}/oauth2/v2.0/token",
            tenant=settings.tenant,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            scope=f"{base_url}/.default",
            settings=settings,
            state=state,
            _client=client,
        )
    finally:
        client.close()
        server.should_exit = True
        thread.join(15)
