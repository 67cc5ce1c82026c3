"""examples/dipflow.yaml, a real-shaped org, drives the bundled flow, `crm check`'s lookup
and the screen pops to the same query and the same app id (issue 10: they used to
disagree, and every pop opened the emulator's app)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from dipflow.connectors import Connectors
from dipflow.connectors.check import run_checks
from dipflow.connectors.config import NoAuth
from dipflow.connectors.dynamics import Dataverse
from dipflow.connectors.flowcheck import FlowUnderTest
from dipflow.connectors.org import flow_variables
from dipflow.engine.commands import HttpRequest
from dipflow.flow.loader import load_flow
from dipflow.runtime.config import ConfigError, DipflowConfig, load_config
from dipflow.runtime.runtime import resolve_flow_path
from dipflow.testing import HttpReply, answer, press, run_flow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dipflow.yaml"
ENV = {"DYNAMICS_CLIENT_SECRET": "not-a-real-secret"}
ANI = "+14155550123"
CONTACT = "0f3c1a52-5b6e-ee11-8179-000d3a9933c9"
CASE = "6a1b0c2d-5b6e-ee11-8179-000d3a9933c9"


@pytest.fixture(scope="module")
def config() -> DipflowConfig:
    return load_config(EXAMPLE, environ=ENV)


def _answer(request: HttpRequest) -> HttpReply:
    case = {
        "incidentid": CASE,
        "title": "Router keeps rebooting",
        "ticketnumber": "CAS-01003-R7K2QZ",
        "createdon": "2025-11-18T14:05:00Z",
    }
    row = {
        "contactid": CONTACT,
        "fullname": "Ada Lovelace",
        "incident_customer_contacts": [case],
        "contact_as_primary_contact": [],
        "parentcustomerid_account": None,
    }
    return HttpReply(json={"value": [row]})


def test_flow_request_and_pop_come_from_the_connector(config: DipflowConfig) -> None:
    connector = config.connectors[0]
    binding = config.binding_for("+18005550100")
    flow = load_flow(resolve_flow_path(binding.flow, config.base_dir))
    result = run_flow(
        flow,
        ani=ANI,
        variables=flow_variables(flow, config.connectors, binding.variables),
        http=_answer,
        caller=[press("1", when="MainMenu")],
        agent=[answer(after=5, agent_id="a1")],
        max_time=120,
    )
    (request,) = result.requests
    assert request.connector == connector.name == "dynamics"
    assert request.path == "contacts"
    # phone_columns [telephone1], e164_column new_phonee164, e164_only: one exact probe
    assert request.query["$filter"] == "(new_phonee164 eq '+14155550123') and statecode eq 0"
    (pop,) = result.screen_pops
    assert pop.url.startswith("https://contoso.crm4.dynamics.com/main.aspx?")
    query = parse_qs(urlsplit(pop.url).query)
    assert query["appid"] == [connector.app_id] == ["8a18ed00-21e1-ed11-a7c6-000d3a8bcaaa"]
    assert query["etn"] == ["incident"] and query["id"] == [CASE]


async def test_crm_check_sends_the_flows_very_request(config: DipflowConfig) -> None:
    """`crm check` derives its lookups from the flow through the engine: on the wire they
    are byte for byte what a call sends, and the helper's lookup agrees with both."""
    binding = config.binding_for("+18005550100")
    flow = load_flow(resolve_flow_path(binding.flow, config.base_dir))
    variables = flow_variables(flow, config.connectors, binding.variables)
    flow_request = run_flow(
        flow,
        ani=ANI,
        variables=variables,
        http=_answer,
        caller=[press("2", when="MainMenu")],
        max_time=60,
    ).requests[0]
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"value": []})

    # Same settings without the Entra round trip: the query is what is compared.
    offline = config.connectors[0].model_copy(update={"auth": NoAuth()})
    transport = httpx.MockTransport(record)
    async with Connectors([offline], environ=ENV, transport=transport) as c:
        await c.execute(flow_request)
        helper_query = Dataverse(c, "dynamics").caller_query(ANI, expand=True)
        await c.execute(
            HttpRequest(
                request_id="helper",
                connector="dynamics",
                method="GET",
                path="contacts",
                query=helper_query,
            )
        )
    under_test = FlowUnderTest(label=binding.flow, flow=flow, variables=variables)
    results = await run_checks(
        offline, environ=ENV, ani=ANI, transport=transport, flows=[under_test]
    )
    assert all(r.ok for r in results), results
    call_url, helper_url = (str(r.url) for r in seen[:2])
    check_urls = [str(r.url) for r in seen[2:] if r.url.path.endswith("/contacts")]
    assert call_url == helper_url == check_urls[-1]
    assert call_url.startswith("https://contoso.crm4.dynamics.com/api/data/v9.2/contacts?")


def test_a_real_org_without_app_id_is_a_located_error(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "    app_id: 8a18ed00-21e1-ed11-a7c6-000d3a8bcaaa", "    # app_id: removed"
    )
    broken = tmp_path / "dipflow.yaml"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(broken, environ=ENV)
    (problem,) = info.value.problems
    line = next(
        n for n, t in enumerate(text.splitlines(), start=1) if t.strip() == "- name: dynamics"
    )
    assert problem.startswith(f"{broken}:{line}:")
    assert "app_id is required" in problem


def test_an_explicit_flow_override_still_wins(config: DipflowConfig) -> None:
    binding = config.binding_for("+18005550100")
    flow = load_flow(resolve_flow_path(binding.flow, config.base_dir))
    variables: dict[str, Any] = flow_variables(
        flow, config.connectors, {"DynamicsAppId": "11111111-1111-4111-8111-111111111111"}
    )
    assert variables["DynamicsAppId"] == "11111111-1111-4111-8111-111111111111"
    assert variables["DynamicsUrl"] == "https://contoso.crm4.dynamics.com"
    assert variables["E164Only"] is True and variables["PhoneColumns"] == "telephone1"
