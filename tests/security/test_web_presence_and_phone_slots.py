"""Item 17 of issue 11: browser-call slots per source, and presence that follows the desktop.

- One client could open every one of the node's 50 browser-call slots. Now one address
  holds at most `web.phone_calls_per_source` calls; other callers still get through.
- An agent who closed the browser stayed Available and collected ring-no-answers. Now,
  once an agent's last desktop socket has been gone for `web.presence_grace_s`, the
  center has them Idle (reason `offline`); a desktop that comes back in time changes
  nothing, and one that comes back later makes them Available with one click.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.security.serve_web import (
    Served,
    base_config,
    client,
    cookie_header,
    dipflow_serve,
    login,
    next_message,
    open_socket,
)

pytestmark = pytest.mark.slow  # a real `dipflow serve` in a subprocess

GRACE_S = 1.0
PER_SOURCE = 2


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = base_config(
        phone_public=True, phone_calls_per_source=PER_SOURCE, presence_grace_s=GRACE_S
    )
    with dipflow_serve(tmp_path_factory.mktemp("presence"), config) as running:
        yield running


def _call(served: Served, cookie: str, source: str, stack: ExitStack) -> dict[str, Any]:
    """Open a browser call; the first answer to the `call` message (kept open in `stack`)."""
    phone = stack.enter_context(open_socket(served, "/phone/ws", cookie=cookie, source=source))
    phone.send(json.dumps({"type": "call", "ani": "+14155550123", "dnis": "web"}))
    while True:
        message: dict[str, Any] = json.loads(phone.recv(timeout=15))
        if message["type"] in ("call_started", "error"):
            return message


def test_one_address_cannot_hold_every_browser_call_slot(served: Served) -> None:
    with client(served) as hog, client(served, source="127.0.0.41") as other:
        hog.get("/phone")
        other.get("/phone")
        with ExitStack() as stack:
            answers = [_call(served, cookie_header(hog), "127.0.0.1", stack) for _ in range(3)]
            assert [a["type"] for a in answers] == ["call_started"] * 2 + ["error"]
            assert "too many calls from your address" in answers[2]["message"]
            # A caller elsewhere still gets through.
            with ExitStack() as own:
                theirs = _call(served, cookie_header(other), "127.0.0.41", own)
                assert theirs["type"] == "call_started"
        # The hog's calls ended with their sockets: its slots are free again.
        time.sleep(0.5)
        with ExitStack() as stack:
            assert _call(served, cookie_header(hog), "127.0.0.1", stack)["type"] == "call_started"


def _agent_state(supervisor: httpx.Client, agent_id: str) -> tuple[str, str | None]:
    agents = supervisor.get("/supervisor/state.json").json()["agents"]
    agent = next(a for a in agents if a["agent_id"] == agent_id)
    return agent["state"], agent["reason"]


def test_an_agent_whose_desktop_is_gone_stops_being_available(served: Served) -> None:
    with client(served) as agent, client(served, source="127.0.0.42") as supervisor:
        assert login(agent, "ben").status_code == 303
        assert login(supervisor, "sue").status_code == 303
        cookie = cookie_header(agent)
        with open_socket(served, "/desktop/ws", cookie=cookie) as desktop:
            next_message(desktop, "snapshot")
            desktop.send(json.dumps({"action": "available"}))
            assert next_message(desktop, "agent_state")["state"] == "available"

        # A reload (the socket back within the grace period) changes nothing.
        with open_socket(served, "/desktop/ws", cookie=cookie) as desktop:
            next_message(desktop, "snapshot")
            time.sleep(GRACE_S + 0.5)
            assert _agent_state(supervisor, "a2") == ("available", None)

        # Browser closed: past the grace period the agent is no longer Available.
        deadline = time.monotonic() + GRACE_S + 5
        while _agent_state(supervisor, "a2")[0] == "available":
            assert time.monotonic() < deadline, "the agent stayed Available with no desktop"
            time.sleep(0.2)
        assert _agent_state(supervisor, "a2") == ("idle", "offline")

        # Back at the desk: one click and calls come again.
        with open_socket(served, "/desktop/ws", cookie=cookie) as desktop:
            snapshot = next_message(desktop, "snapshot")
            assert snapshot["agent"]["state"] == "idle"
            desktop.send(json.dumps({"action": "available"}))
            assert next_message(desktop, "agent_state")["state"] == "available"
            time.sleep(GRACE_S + 0.5)
            assert _agent_state(supervisor, "a2") == ("available", None)
