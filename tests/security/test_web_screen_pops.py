"""Item 14 of issue 11: a screen pop built from caller or CRM data must not change the
origin the agent's tab opens.

The flow below pops `http://crm{{ Nickname }}/profile`, with the nickname read from
the CRM. A contact whose first name is `@evil.example` turns it into
`http://crm@evil.example/profile`: a page on evil.example, opened by the desktop in the
agent's browser. Now the desktop opens only origins the flow binding allows (by default
the CRM connector's web client), the hostile pop is shown as text with the reason, and
`dipflow flow lint` reports the templated host before the flow ever runs. The flow's
legitimate pop (the contact's record in the CRM) still opens.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dipflow.emulator.testing import RunningEmulator, running_emulator
from tests.security.serve_web import (
    base_config,
    client,
    cookie_header,
    dipflow_serve,
    login,
    next_message,
    open_socket,
)

pytestmark = pytest.mark.slow  # a real `dipflow serve` in a subprocess

FLOW = Path(__file__).parent / "flows" / "crm-pops.yaml"
HOSTILE_ANI = "+14155550999"
SECRET_ENV = "SECURITY_TESTS_CRM_SECRET"


@pytest.fixture(scope="module")
def crm() -> Iterator[RunningEmulator]:
    with running_emulator() as emulator:
        token = emulator.token()
        created = httpx.post(
            emulator.api_url + "contacts",
            headers={"Authorization": f"Bearer {token}", "Prefer": "return=representation"},
            json={"firstname": "@evil.example", "lastname": "Mallory", "telephone1": HOSTILE_ANI},
            timeout=10,
        )
        assert created.status_code in (201, 204), created.text
        yield emulator


def _config(crm: RunningEmulator) -> dict[str, Any]:
    config = base_config(phone_public=True)
    config["flows"] = [{"dnis": "*", "flow": str(FLOW), "variables": {"DynamicsUrl": crm.base_url}}]
    config["connectors"] = [
        {
            "name": "dynamics",
            "kind": "dataverse",
            "base_url": crm.base_url,
            "auth": {
                "type": "oauth2_client_credentials",
                "token_url": crm.token_url,
                "client_id": crm.client_id,
                "client_secret_env": SECRET_ENV,
                "scope": crm.scope,
            },
        }
    ]
    return config


def test_lint_reports_the_templated_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dipflow", "flow", "lint", str(FLOW), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(result.stdout)
    flagged = {(f["rule"], f["activity"]) for f in findings}
    assert ("templated-pop-host", "SitePop") in flagged
    assert not any(f["activity"] == "RecordPop" for f in findings)
    assert result.returncode == 1  # an error: a CI gate stops the flow


def test_a_pop_whose_host_comes_from_crm_data_is_not_opened(
    crm: RunningEmulator, tmp_path: Path
) -> None:
    with (
        dipflow_serve(tmp_path, _config(crm), env={SECRET_ENV: crm.client_secret}) as served,
        client(served) as agent,
        client(served) as caller,
    ):
        assert login(agent, "ava").status_code == 303
        with open_socket(served, "/desktop/ws", cookie=cookie_header(agent)) as desktop:
            next_message(desktop, "snapshot")
            desktop.send(json.dumps({"action": "available"}))
            assert next_message(desktop, "agent_state")["state"] == "available"

            caller.get("/phone")  # the phone page (public here), as a caller opens it
            with open_socket(served, "/phone/ws", cookie=cookie_header(caller)) as phone:
                phone.send(json.dumps({"type": "call", "ani": HOSTILE_ANI, "dnis": "web"}))
                next_message(phone, "call_started")
                offer = next_message(desktop, "offer", timeout=30)
                desktop.send(json.dumps({"action": "accept", "call_id": offer["call_id"]}))
                pops = [next_message(desktop, "screen_pop") for _ in range(2)]
        by_label = {pop["label"]: pop for pop in pops}
        hostile, record = by_label["Customer site"], by_label["Contact record"]
        # What the attack made of the URL, and that the desktop will not open it.
        assert hostile["url"] == "http://crm@evil.example/profile"
        assert hostile["safe"] is False
        assert hostile["refused"] == "http://evil.example is not an allowed screen-pop site"
        # The CRM's own record page opens as before.
        assert record["safe"] is True and record["refused"] is None
        assert record["url"].startswith(f"{crm.base_url}/main.aspx?")
        # The log says a pop was refused, without the caller's data.
        log = served.log()
        assert "screen pop was not opened" in log
        assert "evil.example" not in log
