"""Hostile input on the web app: binary frames, sockets that outlive a logout, login sprays."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from dipflow.runtime.websecurity import LoginThrottleSettings
from dipflow.web.throttle import LoginThrottle
from tests.web.web_helpers import csrf_from, login, next_message, session_cookie


def test_desktop_socket_answers_a_binary_frame_with_an_error(client: TestClient) -> None:
    cookie = session_cookie(client, "ava")
    with client.websocket_connect("/desktop/ws", headers={"cookie": cookie}) as ws:
        next_message(ws, "snapshot")
        ws.send_bytes(b"\xff\xfe not json")
        assert next_message(ws, "error")["message"] == "not JSON"
        ws.send_json({"action": "ping"})  # the socket is still usable
        assert next_message(ws, "pong")


def test_phone_socket_answers_a_binary_first_frame_with_an_error(client: TestClient) -> None:
    with client.websocket_connect("/phone/ws") as ws:
        ws.send_bytes(b"\x00\x01\x02")
        assert next_message(ws, "error")["message"] == "message is not JSON"


def test_logout_closes_the_agents_open_desktop_sockets(client: TestClient) -> None:
    login(client, "ava")
    cookie = f"dipflow_session={client.cookies.get('dipflow_session')}"
    with client.websocket_connect("/desktop/ws", headers={"cookie": cookie}) as ws:
        next_message(ws, "snapshot")
        token = csrf_from(client.get("/desktop").text)
        assert client.post("/logout", data={"csrf_token": token}).status_code == 200
        ws.send_json({"action": "ping"})
        # Without a session the socket must not keep acting as the agent: it is closed
        # (1012: the desktop reconnects, gets 401 and shows the login page).
        with pytest.raises(WebSocketDisconnect) as closed:
            next_message(ws, "pong")
        assert closed.value.code == 1012


def test_throttled_logins_with_new_names_do_not_grow_the_throttle() -> None:
    throttle = LoginThrottle(LoginThrottleSettings(free_attempts_per_source=1), clock=lambda: 1.0)
    assert throttle.admit("203.0.113.9", "ava") == 0
    for n in range(1000):
        # What /login asks before it refuses a blocked address (no scrypt, nothing stored).
        assert throttle.admit("203.0.113.9", f"spray{n}") > 0
    assert len(throttle) == 2


def test_oversized_login_and_logout_forms_are_refused_unread(client: TestClient) -> None:
    token = csrf_from(client.get("/desktop").text)
    padding = "x" * 100_000
    for path in ("/login", "/logout"):
        response = client.post(path, data={"csrf_token": token, "username": "ava", "p": padding})
        assert response.status_code == 413
    # A chunked body (no Content-Length) is cut off at the limit too.
    chunks = iter([b"csrf_token=" + token.encode() + b"&p=", *([b"x" * 4096] * 25)])
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    response = client.post("/login", content=chunks, headers=form_type)
    assert response.status_code == 413
    assert login(client, "ava").status_code == 303  # normal forms still work
