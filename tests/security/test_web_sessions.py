"""Item 9 of issue 11: signing out ends the session, everywhere.

The session used to live only in the signed cookie: a copy taken before sign-out (from
a shared machine, a proxy log, a stolen laptop) kept working for 12 hours, WebSocket
included. Now the cookie carries a session id that the node checks against its own
table: sign-out deletes the entry, so every copy stops working, and the WebSockets the
session opened are closed at once. A session also ends after `web.sessions.idle_timeout_s`
without use (an open desktop counts as use).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection

from tests.security.serve_web import (
    Served,
    base_config,
    client,
    close_code,
    cookie_header,
    csrf_from,
    dipflow_serve,
    login,
    next_message,
    open_socket,
)

pytestmark = pytest.mark.slow  # a real `dipflow serve` in a subprocess

IDLE_S = 3.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = base_config(sessions={"idle_timeout_s": IDLE_S})
    with dipflow_serve(tmp_path_factory.mktemp("sessions"), config) as running:
        yield running


def _drain(ws: ClientConnection) -> None:
    """Read until the server closes the socket (ConnectionClosed) or 5 s pass."""
    with ws:
        while True:
            ws.recv(timeout=5)


def test_a_cookie_copied_before_sign_out_stops_working_everywhere(served: Served) -> None:
    with client(served) as agent, client(served, source="127.0.0.9") as thief:
        assert login(agent, "ava").status_code == 303
        captured = cookie_header(agent)  # the copy an attacker took
        thief.headers["cookie"] = captured
        assert thief.get("/desktop/session").json()["username"] == "ava"
        with open_socket(served, "/desktop/ws", cookie=captured, source="127.0.0.9") as stolen:
            next_message(stolen, "snapshot")
            token = csrf_from(agent.get("/desktop").text)
            assert agent.post("/logout", data={"csrf_token": token}).status_code == 303
            # The open socket is closed by the server, at once.
            started = time.monotonic()
            assert close_code(stolen, timeout=5) in (1008, 1012)
            assert time.monotonic() - started < 3
        # The copied cookie no longer works for pages, the session check or a new socket.
        assert thief.get("/desktop/session").status_code == 401
        assert 'id="login-form"' in thief.get("/desktop").text
        with pytest.raises((InvalidStatus, ConnectionClosed)):
            _drain(open_socket(served, "/desktop/ws", cookie=captured))

    # Signing in again works as before.
    with client(served) as agent:
        assert login(agent, "ava").status_code == 303
        assert agent.get("/desktop/session").json()["logged_in"] is True


def test_an_idle_session_ends(served: Served) -> None:
    with client(served) as idle, client(served) as busy:
        assert login(idle, "ben").status_code == 303
        assert login(busy, "ava").status_code == 303
        with open_socket(served, "/desktop/ws", cookie=cookie_header(busy)) as desktop:
            next_message(desktop, "snapshot")
            time.sleep(IDLE_S + 1.5)
            # The desktop that stayed open kept its session; it still acts as the agent.
            desktop.send(json.dumps({"action": "ping"}))
            assert next_message(desktop, "pong")["type"] == "pong"
        assert busy.get("/desktop/session").status_code == 200
        # The one left alone is over.
        assert idle.get("/desktop/session").status_code == 401
