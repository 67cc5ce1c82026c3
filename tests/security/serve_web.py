"""A real `dipflow serve` for the web security tests: a subprocess on a loopback port,
with a configuration written for the test, optionally under a lowered file-descriptor
limit, and the clients an attacker and a legitimate user would use (httpx from a chosen
loopback source address, WebSockets with the session cookie)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from dipflow.runtime.passwords import hash_password

PASSWORDS = {"ava": "ava-correct-horse", "ben": "ben-battery-staple", "sue": "sue-supervises"}
USERS = [
    {"username": "ava", "agent_id": "a1", "display_name": "Ava", "role": "agent"},
    {"username": "ben", "agent_id": "a2", "display_name": "Ben", "role": "agent"},
    {"username": "sue", "role": "supervisor", "display_name": "Sue"},
]
SERVE = [sys.executable, "-m", "dipflow", "serve"]
SECRET = "security-tests-session-secret-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_config(**web: Any) -> dict[str, Any]:
    """A deployment with two agents and a supervisor; `web` settings on top."""
    users = [{**u, "password_hash": hash_password(PASSWORDS[str(u["username"])])} for u in USERS]
    return {
        "flows": [{"dnis": "*", "flow": "ms-dynamics-data-dip"}],
        "connectors": [{"name": "dynamics", "kind": "dataverse", "base_url": "http://127.0.0.1:9"}],
        "center": {
            "queues": [{"name": "CustomerCare", "teams": ["support"]}],
            "agents": [
                {"agent_id": "a1", "name": "Ava", "teams": ["support"]},
                {"agent_id": "a2", "name": "Ben", "teams": ["support"]},
            ],
        },
        "users": users,
        "web": {"session_secret": SECRET, **web},
        "media": {"tts": "silent"},
    }


@dataclass
class Served:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        """What the server logged after the log was `offset` bytes long."""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def open_fds(self) -> int:
        """File descriptors the server process holds now."""
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def rss_kib(self) -> int:
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc/PID/status")


def _limit_fds(nofile: int | None) -> Any:
    if nofile is None:
        return None

    def apply() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

    return apply


@contextlib.contextmanager
def dipflow_serve(
    tmp_path: Path,
    config: dict[str, Any],
    *,
    nofile: int | None = None,
    env: dict[str, str] | None = None,
    sip: bool = False,
) -> Iterator[Served]:
    """`python -m dipflow serve --config ...` until the block ends (SIGTERM); with
    `--no-sip` unless `sip` (then the configuration's `sip` section is used)."""
    path = tmp_path / "dipflow.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*SERVE, "--config", str(path), "--port", str(port)] + ([] if sip else ["--no-sip"]),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **(env or {})},
            preexec_fn=_limit_fds(nofile),
        )
    served = Served(port=port, process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if not served.alive():
                raise RuntimeError(f"dipflow serve exited:\n{served.log()}")
            try:
                if httpx.get(f"{served.base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"dipflow serve did not start:\n{served.log()}")
            time.sleep(0.1)
        yield served
    finally:
        if served.alive():
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def client(served: Served, *, source: str = "127.0.0.1", **kwargs: Any) -> httpx.Client:
    """An HTTP client whose connections come from `source` (any 127.x.y.z works on Linux)."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=served.base, transport=transport, timeout=15, **kwargs)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None, "no CSRF token on the page"
    return match.group(1)


def login(http: httpx.Client, username: str, password: str | None = None) -> httpx.Response:
    page = http.get("/desktop")
    return http.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORDS[username] if password is None else password,
            "csrf_token": csrf_from(page.text),
            "next": "/desktop",
        },
    )


def cookie_header(http: httpx.Client) -> str:
    return "; ".join(f"{name}={value}" for name, value in http.cookies.items())


def next_message(ws: ClientConnection, kind: str, *, timeout: float = 15.0) -> dict[str, Any]:
    """The next message of type `kind` on a dipflow socket (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {kind!r} message in {timeout} s")
        message: dict[str, Any] = json.loads(ws.recv(timeout=left))
        if message.get("type") == kind:
            return message


def open_socket(
    served: Served,
    path: str,
    *,
    cookie: str | None = None,
    source: str = "127.0.0.1",
    max_size: int | None = 2**20,
) -> ClientConnection:
    """A WebSocket as the page opens it (same Origin), with the browser's cookie."""
    headers = {"Cookie": cookie} if cookie else {}
    address = ("127.0.0.1", served.port)
    sock = socket.create_connection(address, timeout=10, source_address=(source, 0))
    return connect(
        f"{served.ws_base}{path}",
        sock=sock,
        origin=Origin(served.base),
        additional_headers=headers,
        open_timeout=10,
        max_size=max_size,
    )


def close_code(ws: ClientConnection, *, timeout: float = 10.0) -> int | None:
    """Read until the server closes the socket; the close code it sent (None: no close
    frame). TimeoutError when it stays open for `timeout` seconds."""
    try:
        while True:
            ws.recv(timeout=timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
