"""Item 16 of issue 11: forwarded headers and the Host header.

- uvicorn believed `X-Forwarded-For` from loopback, so any local process (or a proxy
  that passes the header through) chose the address the login throttle counts by: a
  new made-up address per guess and the throttle never fired. Now forwarded headers are
  believed only from `web.trusted_proxies`; behind a real proxy they are, per client.
- Nothing checked `Host`, so a page on attacker.example whose name was rebound to
  127.0.0.1 (DNS rebinding) could drive the demo's phone from the victim's browser as a
  same-origin page. Now a name dipflow does not serve gets 400, and a WebSocket
  handshake naming it is refused; IP literals, localhost, this machine's names,
  `public_url`'s host and `web.allowed_hosts` work.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.security.serve_web import (
    Served,
    base_config,
    client,
    dipflow_serve,
    login,
)

pytestmark = pytest.mark.slow  # a real `dipflow serve` in a subprocess

PROXY = "127.0.0.30"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = base_config(
        phone_public=True,
        trusted_proxies=[f"{PROXY}/32"],
        allowed_hosts=["dipflow.example.com", "*.agents.example.net"],
    )
    with dipflow_serve(tmp_path_factory.mktemp("proxy"), config) as running:
        yield running


def test_forwarded_for_from_an_untrusted_peer_does_not_pick_the_throttle_key(
    served: Served,
) -> None:
    with client(served, source="127.0.0.31") as sprayer:
        statuses = [
            login_as(sprayer, f"user{n}", password="wrong", forwarded=f"198.51.100.{n}")
            for n in range(25)
        ]
    # Counted by the connection's own address: the address's free attempts, then delays.
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}


def test_a_trusted_proxy_is_believed_per_client(served: Served) -> None:
    with client(served, source=PROXY) as proxy:
        guesses = [
            login_as(proxy, "ben", password="a-guess", forwarded="203.0.113.5") for _ in range(6)
        ]
        assert guesses == [401] * 5 + [429]
        # Another client behind the same proxy is not held back by that guesser.
        assert login_as(proxy, "ben", forwarded="203.0.113.6") == 303


def login_as(
    http: httpx.Client, username: str, *, password: str | None = None, forwarded: str
) -> int:
    """Status of a login (the right password when `password` is None) claiming to be
    for `forwarded`."""
    http.headers["x-forwarded-for"] = forwarded
    return login(http, username, password).status_code


def _get(served: Served, host: str, path: str = "/healthz") -> int:
    with httpx.Client(timeout=10) as http:
        response = http.get(f"{served.base}{path}", headers={"host": host})
        return response.status_code


def test_a_rebound_host_name_is_refused(served: Served) -> None:
    assert _get(served, "attacker.example") == 400
    assert _get(served, f"attacker.example:{served.port}", "/phone") == 400
    assert _get(served, "127.0.0.1.attacker.example") == 400
    # The browser phone's socket, as a rebinding page would open it.
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(
            f"ws://attacker.example:{served.port}/phone/ws",
            sock=sock,
            origin=None,
            open_timeout=10,
        ),
    ):
        pass
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "[::1]:8080",
        "localhost:8080",
        "dipflow.example.com",
        "desk7.agents.example.net:443",
        socket.gethostname(),
    ],
)
def test_names_dipflow_serves_are_answered(served: Served, host: str) -> None:
    assert _get(served, host) == 200
