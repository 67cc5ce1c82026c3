"""The bundled flow's real queries against the Dataverse emulator's demo CRM.

The simulator answers each `HttpRequest` by sending it, as the Dataverse connector
would (connector base URL + path, query parameters encoded by httpx), to the emulator
on loopback: this proves the OData the flow builds finds the right records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from dipflow.emulator.demo_data import DEMO_CALLERS, ORG_CALLERS, DemoCaller
from dipflow.emulator.testing import RunningEmulator, running_emulator
from dipflow.engine.commands import HttpRequest
from dipflow.flow.bundled import bundled_path
from dipflow.flow.loader import load_flow
from dipflow.flow.model import Flow
from dipflow.testing import HttpReply, answer, press, run_flow


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with running_emulator() as running:
        yield running


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(bundled_path("ms-dynamics-data-dip"))


def _responder(emu: RunningEmulator) -> Callable[[HttpRequest], HttpReply]:
    token = emu.token()

    def send(request: HttpRequest) -> HttpReply:
        assert request.connector == "dynamics" and request.path is not None
        response = httpx.get(
            emu.api_url + request.path,
            params=request.query,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=request.timeout_s,
        )
        return HttpReply(status=response.status_code, json=response.json())

    return send


CALLERS = (*DEMO_CALLERS, *ORG_CALLERS)
"""ORG_CALLERS: a merged (inactive) duplicate must not make the caller ambiguous; a B2B
caller hears their company's latest case (named on it, or not)."""


@pytest.mark.parametrize("caller", CALLERS, ids=[c.label for c in CALLERS])
def test_demo_caller_end_to_end(emu: RunningEmulator, flow: Flow, caller: DemoCaller) -> None:
    result = run_flow(
        flow,
        ani=caller.ani,
        http=_responder(emu),
        variables={"DynamicsUrl": emu.base_url, "DynamicsAppId": emu.settings.app_id},
        caller=[press("1", when="MainMenu")],
        agent=[answer(after=5, agent_id="a1")],
        max_time=120,
    )
    greeting = result.prompts[1]
    if caller.expected_fullname is None:
        assert greeting.startswith("We could not find your details")
        assert result.variables["CustomerName"] == ""
    else:
        assert result.variables["CustomerName"] == caller.expected_fullname
        assert result.variables["CustomerId"] == caller.customer_id
        assert result.variables["CustomerKind"] == caller.customer_type
        assert greeting.startswith("Hello ")
    (pop,) = result.screen_pops
    query = parse_qs(urlsplit(pop.url).query)
    assert pop.url.startswith(emu.base_url + "/main.aspx?")
    if caller.latest_case_id is not None:
        assert result.variables["CaseNumber"] == caller.latest_case_ticket
        assert caller.latest_case_ticket in greeting
        assert query["id"] == [caller.latest_case_id]
    else:
        assert "id" not in query
        assert "caseorigincode=1" in query["extraqs"][0]
        if caller.customer_id is not None:
            assert f"customerid={caller.customer_id}" in query["extraqs"][0]
