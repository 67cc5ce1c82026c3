"""Item 13 of issue 11: WebSocket frames are capped at the server.

uvicorn buffers a WebSocket message up to 16 MiB by default before the app sees it,
so the pages' 2-4 kB message caps came after the memory was spent: a few sockets
announcing 16 MiB frames held tens of MiB. Now the server refuses a frame longer than
`web.limits.max_ws_message_bytes` from its header, before reading its payload, with
close code 1009 (message too big); ordinary messages work as before.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator

import pytest
from websockets.sync.client import ClientConnection

from tests.security.serve_web import (
    Served,
    base_config,
    client,
    close_code,
    cookie_header,
    dipflow_serve,
    login,
    next_message,
    open_socket,
)

pytestmark = pytest.mark.slow  # a real `dipflow serve` in a subprocess

SIXTEEN_MIB = 16 * 1024 * 1024


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = base_config(phone_public=True, limits={"max_ws_message_bytes": 64 * 1024})
    with dipflow_serve(tmp_path_factory.mktemp("frames"), config) as running:
        yield running


def _announce_frame(ws: ClientConnection, length: int, sent: int) -> None:
    """Write a masked text frame header announcing `length` bytes, then `sent` of them."""
    mask = os.urandom(4)
    header = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", length) + mask
    ws.socket.sendall(header + bytes(sent))


def test_an_oversized_frame_is_refused_before_it_is_buffered(served: Served) -> None:
    with client(served) as caller:
        caller.get("/phone")
        cookie = cookie_header(caller)
        before = served.rss_kib()
        for _ in range(4):
            with open_socket(served, "/phone/ws", cookie=cookie) as phone:
                _announce_frame(phone, SIXTEEN_MIB, 256 * 1024)
                assert close_code(phone) == 1009
        grown_kib = served.rss_kib() - before
        assert grown_kib < 16 * 1024, f"the server grew by {grown_kib} KiB"

        # An ordinary call on a new socket works.
        with open_socket(served, "/phone/ws", cookie=cookie) as phone:
            phone.send(json.dumps({"type": "call", "ani": "+14155550123", "dnis": "web"}))
            assert next_message(phone, "call_started")["call_id"]
            phone.send(json.dumps({"type": "hangup"}))


def test_the_desktop_socket_has_the_same_cap(served: Served) -> None:
    with client(served) as agent:
        assert login(agent, "ava").status_code == 303
        cookie = cookie_header(agent)
        with open_socket(served, "/desktop/ws", cookie=cookie) as desktop:
            next_message(desktop, "snapshot")
            _announce_frame(desktop, SIXTEEN_MIB, 1024)
            assert close_code(desktop) == 1009
        with open_socket(served, "/desktop/ws", cookie=cookie) as desktop:
            next_message(desktop, "snapshot")
            desktop.send(json.dumps({"action": "ping"}))
            assert next_message(desktop, "pong")["type"] == "pong"
