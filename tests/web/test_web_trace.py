"""The supervisor's trace view over TestClient: a call's trace as JSON (the records
`dipflow call --json` prints), the call's own trace page, who may see them, and hostile
values from the caller or the CRM carried as text, never as markup.

The browser half (the values shown as text in Chromium) is test_web_trace_browser.py.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from dipflow.cli.main import app
from dipflow.runtime.notices import CallPhase, CallSummary
from dipflow.runtime.tracing import TRACE_FIELDS
from tests.web.web_helpers import FakeRuntime, login

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_ID = '"><img src=x onerror=alert(2)>'


def _summary(call_id: str = "call-7") -> CallSummary:
    start = 1000.0
    return CallSummary(
        call_id=call_id,
        ani="+14155550166",
        dnis="+18005550100",
        channel="sip",
        state=CallPhase.ENDED,
        started_at=time.time() - 30,
        ended_at=time.time(),
        path=("NewPhoneContact", "SetCustomerName", "Broken"),
        error=True,
        trace=(
            {"flow": "main", "activity": "NewPhoneContact", "kind": "start",
             "started_at": start, "ended_at": start, "inputs": {},
             "outputs": {"ANI": "+14155550166"}, "output_taken": "out", "error": None},
            {"flow": "main", "activity": "SetCustomerName", "kind": "set_variable",
             "started_at": start + 1.5, "ended_at": start + 2.0,
             "inputs": {"value": "{{ Matches[0].fullname }}"},
             "outputs": {"CustomerName": HOSTILE, f"<b>{HOSTILE}</b>": [HOSTILE, math.nan]},
             "output_taken": "out", "error": None},
            {"flow": "main", "activity": "Broken", "kind": "condition",
             "started_at": start + 2.0, "ended_at": start + 2.0,
             "inputs": {"expression": "{{ 1 / 0 }}"}, "outputs": {},
             "output_taken": "error", "error": f"condition Broken: {HOSTILE}"},
            {"flow": "global_error", "activity": "OnError", "kind": "global_error",
             "started_at": start + 2.0, "ended_at": None, "inputs": {}, "outputs": {},
             "output_taken": None, "error": f"condition Broken: {HOSTILE}"},
        ),
    )  # fmt: skip


@pytest.fixture
def with_call(fake_runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch) -> list[CallSummary]:
    calls = [_summary()]
    monkeypatch.setattr(fake_runtime, "recent_calls", lambda limit=50: calls[:limit])
    return calls


def test_a_supervisor_gets_each_activitys_inputs_outputs_output_taken_and_error(
    client: TestClient, with_call: list[CallSummary]
) -> None:
    login(client, "sue")
    response = client.get("/supervisor/calls/call-7.json")
    assert response.status_code == 200
    call = response.json()
    assert [list(r) for r in call["trace"]] == [list(TRACE_FIELDS)] * 4
    name = call["trace"][1]
    assert name["activity"] == "SetCustomerName" and name["output_taken"] == "out"
    assert name["at_s"] == 1.5 and name["took_s"] == 0.5
    # Hostile values travel as the characters they are; NaN (no JSON) as its text.
    assert name["outputs"]["CustomerName"] == HOSTILE
    assert name["outputs"][f"<b>{HOSTILE}</b>"] == [HOSTILE, "nan"]
    broken = call["trace"][2]
    assert broken["output_taken"] == "error" and broken["error"] == f"condition Broken: {HOSTILE}"
    assert call["trace"][3]["took_s"] is None  # the handler was still running
    assert call["global_error_detail"] == {
        "flow": "global_error",
        "activity": "OnError",
        "error": f"condition Broken: {HOSTILE}",
    }
    assert response.headers["content-type"] == "application/json"


def test_only_supervisors_see_a_trace_and_an_unknown_call_is_said_so(
    client: TestClient, with_call: list[CallSummary]
) -> None:
    assert client.get("/supervisor/calls/call-7.json").status_code == 401
    assert 'id="login-form"' in client.get("/supervisor/calls/call-7").text
    login(client, "ava")
    assert client.get("/supervisor/calls/call-7.json").status_code == 403
    assert client.get("/supervisor/calls/call-7").status_code == 403
    client.post("/logout", data={"csrf_token": ""})
    client.cookies.clear()
    login(client, "sue")
    assert client.get("/supervisor/calls/nope.json").json() == {"error": "no such call"}
    missing = client.get("/supervisor/calls/nope")
    assert missing.status_code == 404 and 'id="trace-missing"' in missing.text


def test_the_trace_page_hands_its_script_the_call_id_as_escaped_text(
    client: TestClient, with_call: list[CallSummary]
) -> None:
    # Call ids are the runtime's own today; were one ever to come from the network, it
    # would still be data on the page.
    with_call.append(_summary(HOSTILE_ID))
    login(client, "sue")
    page = client.get("/supervisor/calls/" + HOSTILE_ID)
    assert page.status_code == 200
    assert 'data-call-id="&#34;&gt;&lt;img src=x onerror=alert(2)&gt;"' in page.text
    assert "<img src=x" not in page.text
    scripts = [line for line in page.text.splitlines() if "<script" in line]
    assert scripts and all(
        s.count("<script") == s.count('<script src="/static/') for s in scripts
    )  # no inline script: the page's code is the static files the CSP allows
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for name in ("trace.js", "trace-page.js", "trace.css"):
        assert client.get(f"/static/{name}").status_code == 200


def test_the_supervisor_page_draws_traces_with_the_trace_view(client: TestClient) -> None:
    login(client, "sue")
    page = client.get("/supervisor").text
    assert page.index('src="/static/trace.js"') < page.index('src="/static/supervisor.js"')
    script = client.get("/static/trace.js").text
    # Values reach the page through textContent (dipflow.el) only.
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "document.write" not in script


HELLO = """\
name: hello
start: start
activities:
  start: {kind: start, next: hi}
  hi: {kind: play_message, prompt: {text: Hello.}, next: bye}
  bye: {kind: disconnect_contact}
"""


def test_dipflow_call_json_prints_the_same_records(
    tmp_path: Path, client: TestClient, with_call: list[CallSummary]
) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO, encoding="utf-8")
    result = CliRunner().invoke(
        app, ["call", "--fast", "--json", "--flow", str(tmp_path / "hello.yaml")]
    )
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)["trace"]
    assert [r["activity"] for r in cli][:3] == ["start", "hi", "bye"]
    assert cli[1]["at_s"] == 0.0 and cli[1]["took_s"] > 0 and cli[2]["at_s"] == cli[1]["took_s"]
    login(client, "sue")
    web = client.get("/supervisor/calls/call-7.json").json()["trace"]
    assert {tuple(r) for r in cli} == {tuple(r) for r in web} == {TRACE_FIELDS}
