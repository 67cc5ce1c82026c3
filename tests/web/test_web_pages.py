"""HTTP behaviour of the web app: headers, login/logout, CSRF, throttle, roles, metrics."""

from __future__ import annotations

from starlette.testclient import TestClient

from dipflow.emulator.demo_data import HOSTILE_NAME
from tests.web.web_helpers import FakeRuntime, csrf_from, login


def test_every_page_has_a_strict_content_security_policy(client: TestClient) -> None:
    for path in ("/desktop", "/phone", "/supervisor", "/static/desktop.js", "/healthz"):
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        for directive in (
            "default-src 'self'",
            "script-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "connect-src 'self' ws://testserver wss://testserver",
        ):
            assert directive in csp, (path, directive)
        assert "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_pages_have_no_inline_script_or_handlers(client: TestClient) -> None:
    login(client, "ava")
    for path in ("/desktop", "/phone"):
        html = client.get(path).text
        assert "<script>" not in html
        assert "onclick" not in html.lower() and "onload" not in html.lower()
        assert '<script src="/static/' in html


def test_login_sets_a_signed_httponly_lax_cookie_and_shows_the_desktop(
    client: TestClient,
) -> None:
    form = client.get("/desktop")
    assert 'id="login-form"' in form.text
    response = login(client, "ava")
    assert response.status_code == 303
    assert response.headers["location"] == "/desktop"
    cookie = response.headers["set-cookie"].lower()
    assert "dipflow_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    page = client.get("/desktop")
    assert 'data-agent-id="a1"' in page.text
    assert client.get("/desktop/session").json()["agent_id"] == "a1"


def test_wrong_password_is_refused_with_a_clear_error(client: TestClient) -> None:
    response = login(client, "ava", "not-her-password")
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert client.get("/desktop/session").status_code == 401


def test_unknown_user_gets_the_same_error(client: TestClient) -> None:
    page = client.get("/desktop")
    response = client.post(
        "/login",
        data={"username": "mallory", "password": "x", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 401
    assert "Wrong username or password." in response.text


def test_login_without_the_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/desktop")
    response = client.post("/login", data={"username": "ava", "password": "ava-pass"})
    assert response.status_code == 400
    assert client.get("/desktop/session").status_code == 401


def test_repeated_failures_are_throttled_even_for_the_right_password(
    client: TestClient,
) -> None:
    for _ in range(3):
        assert login(client, "ben", "guess").status_code == 401
    blocked = login(client, "ben")
    assert blocked.status_code == 429
    assert "Too many failed logins" in blocked.text


def test_logout_needs_the_csrf_token_and_ends_the_session(client: TestClient) -> None:
    login(client, "ava")
    assert client.post("/logout", data={}).status_code == 400
    assert client.get("/desktop/session").status_code == 200
    token = csrf_from(client.get("/desktop").text)
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/desktop/session").status_code == 401
    assert 'id="login-form"' in client.get("/desktop").text


def test_login_logs_the_agent_in_to_the_center(
    client: TestClient, fake_runtime: FakeRuntime
) -> None:
    login(client, "ava")
    snapshot = client.portal.call(fake_runtime.center.snapshot)  # type: ignore[union-attr]
    states = {a.agent_id: str(a.state) for a in snapshot.agents}
    assert states["a1"] == "idle"
    assert states["a2"] == "logged_out"


def test_supervisor_view_is_for_supervisors_only(client: TestClient) -> None:
    assert 'id="login-form"' in client.get("/supervisor").text
    assert client.get("/supervisor/state.json").status_code == 401
    login(client, "ava")
    assert client.get("/supervisor").status_code == 403
    assert client.get("/supervisor/state.json").status_code == 403


def test_supervisor_state_lists_queues_and_agents(client: TestClient) -> None:
    login(client, "ava")
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/desktop").text)})
    page = client.get("/desktop")
    response = client.post(
        "/login",
        data={
            "username": "sue",
            "password": "sue-pass",
            "csrf_token": csrf_from(page.text),
            "next": "/supervisor",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/supervisor"
    assert client.get("/supervisor").status_code == 200
    state = client.get("/supervisor/state.json").json()
    assert [q["name"] for q in state["queues"]] == ["Support"]
    agents = {a["agent_id"]: a for a in state["agents"]}
    assert agents["a1"]["state"] == "logged_out"
    # Ava logged out a moment ago; Ben never logged in, so has no time in state to show.
    assert 0 <= agents["a1"]["in_state_s"] < 5
    assert agents["a2"]["in_state_s"] is None


def test_phone_page_escapes_crm_names(client: TestClient) -> None:
    html = client.get("/phone").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert HOSTILE_NAME not in html
    assert "+14155550123" in html


def test_metrics_and_health(client: TestClient, fake_runtime: FakeRuntime) -> None:
    fake_runtime.metrics.calls_started.labels(channel="web").inc()
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'dipflow_calls_started_total{channel="web"} 1.0' in metrics.text
    assert client.get("/healthz").json() == {"status": "ok"}


def test_media_needs_the_url_the_browser_was_given(
    client: TestClient, fake_runtime: FakeRuntime
) -> None:
    """A rendered prompt is not served by its content hash alone (that was an oracle:
    hash a customer's greeting, ask whether it exists); see tests/security for the URLs
    the phone hands out and who may fetch them."""
    client.get("/phone")
    audio = fake_runtime.prompts.render_text("Hello", language="en-US", voice=None)
    assert client.get(f"/media/{audio.key}.wav").status_code == 404
    assert client.get(f"/media/{audio.key}/{'A' * 32}.wav").status_code == 404
    assert client.get("/media/..%2f..%2fetc.wav").status_code == 404
