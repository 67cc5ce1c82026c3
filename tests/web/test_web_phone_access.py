"""Outside the demo the browser phone needs a login: it would otherwise tell anybody a
customer's name and latest case for the number they type."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from dipflow.runtime.config import DipflowConfig, WebSettings
from dipflow.runtime.demo import demo_config
from dipflow.web.app import create_app
from tests.web.web_helpers import FakeRuntime, csrf_from


@pytest.fixture
def private_client(web_config: DipflowConfig) -> TestClient:
    web = web_config.web.model_copy(update={"phone_public": False})
    runtime = FakeRuntime(web_config.model_copy(update={"web": web}))
    return TestClient(create_app(runtime), base_url="http://testserver")


def test_anonymous_visitor_gets_the_login_page_and_no_socket(private_client: TestClient) -> None:
    with private_client as client:
        page = client.get("/phone")
        assert 'id="login-form"' in page.text
        assert "keypad" not in page.text.lower()
        with (
            pytest.raises(WebSocketDisconnect),
            client.websocket_connect("/phone/ws", headers={"origin": "http://testserver"}) as ws,
        ):
            ws.receive_json()


def test_logged_in_user_gets_the_phone_and_returns_to_it(private_client: TestClient) -> None:
    with private_client as client:
        form = client.get("/phone")
        response = client.post(
            "/login",
            data={
                "username": "ava",
                "password": "ava-pass",
                "csrf_token": csrf_from(form.text),
                "next": "/phone",
            },
            follow_redirects=False,
        )
        assert response.headers["location"] == "/phone"
        assert 'id="login-form"' not in client.get("/phone").text
        with client.websocket_connect("/phone/ws", headers={"origin": "http://testserver"}):
            pass


class _Emulator:
    base_url = "http://127.0.0.1:9"
    token_url = "http://127.0.0.1:9/t/oauth2/v2.0/token"
    client_id = "client"
    client_secret = "secret"
    scope = "http://127.0.0.1:9/.default"


def test_only_the_demo_makes_the_phone_public(client: TestClient) -> None:
    assert WebSettings().phone_public is False
    assert demo_config(emulator=_Emulator()).web.phone_public is True
    assert 'id="login-form"' not in client.get("/phone").text  # a public phone: no login
