"""The imported template runs as it does in Webex, defects included, against the emulator.

The HTTP requests are real: the simulator's connector answers each `HttpRequest`
by sending it over loopback to the Dataverse emulator with a client-credentials
token, exactly as the template's connector would send it to Dynamics 365.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dipflow.emulator.testing import RunningEmulator, running_emulator
from dipflow.engine.commands import HttpRequest
from dipflow.flow.model import Flow
from dipflow.flow.webex import import_webex_file
from dipflow.flow.webex.activities import ImportOptions
from dipflow.testing import HttpReply, answer, press, run_flow

WELCOME = "Welcome to Webex Contact Center!"
NO_CASE = "Sorry! We were unable to find your case. Please wait while we find you an agent."
TEMPLATE_CASE_ID = "b68990a8-e1dc-4350-b266-112c622507f5"


@pytest.fixture(scope="module")
def crm() -> Iterator[RunningEmulator]:
    with running_emulator(seed="demo") as emulator:
        yield emulator


@pytest.fixture(scope="module")
def template(template_path: Path) -> Flow:
    options = ImportOptions(connector_map={"HubSpotCRM": "dynamics"},
                            queue_map={"Q_arubhatt": "CustomerCare"})
    return import_webex_file(template_path, options=options).flow


@pytest.fixture(scope="module")
def template_path() -> Path:
    return Path(__file__).parent / "fixtures" / "MSDynamics_HTTP_Template.json"


class EmulatorConnector:
    """Answers the simulator's HTTP requests over real HTTP, with an OAuth token."""

    def __init__(self, crm: RunningEmulator) -> None:
        self.crm = crm
        token = httpx.post(crm.token_url, data={
            "grant_type": "client_credentials", "client_id": crm.client_id,
            "client_secret": crm.client_secret, "scope": crm.scope,
        }).raise_for_status().json()["access_token"]
        self.client = httpx.Client(headers={"Authorization": f"Bearer {token}",
                                            "OData-Version": "4.0", "Accept": "application/json"})
        self.sent: list[httpx.Request] = []

    def __call__(self, request: HttpRequest) -> HttpReply:
        assert request.connector == "dynamics" and request.path is not None
        try:
            # `params={}` would make httpx drop the query string the path already has.
            response = self.client.request(request.method, self.crm.api_url + request.path,
                                           params=request.query or None,
                                           timeout=request.timeout_s)
        except httpx.HTTPError as exc:
            return HttpReply.failure(str(exc))
        self.sent.append(response.request)
        content_type = response.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            return HttpReply(status=response.status_code, json=response.json())
        return HttpReply(status=response.status_code, text=response.text)


@pytest.fixture
def connector(crm: RunningEmulator) -> Iterator[EmulatorConnector]:
    emulator_connector = EmulatorConnector(crm)
    yield emulator_connector
    emulator_connector.client.close()


def _add_contact(crm: RunningEmulator, connector: EmulatorConnector, phone: str) -> str:
    response = connector.client.post(crm.api_url + "contacts", json={
        "firstname": "Edsger", "lastname": "Dijkstra", "telephone1": phone,
    }, headers={"Prefer": "return=representation"})
    assert response.status_code == 201, response.text
    contact_id: str = response.json()["contactid"]
    return contact_id


def test_formatted_phone_is_missed_by_contains(
    crm: RunningEmulator, template: Flow, connector: EmulatorConnector
) -> None:
    """Ada's number is stored "+1 (415) 555-0123": the template's contains('14155550123')
    cannot match it, so she hears "no case" and goes straight to the queue, no menu."""
    result = run_flow(template, ani="+14155550123", http=connector)
    assert result.prompts == [WELCOME, NO_CASE]
    assert result.queued == ["CustomerCare"]
    assert "MainMenu" not in result.path
    sent = connector.sent[0]
    assert sent.url.path.endswith("/contacts")
    assert "contains(telephone1,'14155550123')" in httpx.QueryParams(sent.url.query).get(
        "$filter", "")


def test_found_caller_hears_somebody_elses_case(
    crm: RunningEmulator, template: Flow, connector: EmulatorConnector
) -> None:
    """A contact stored in digits is found; the case lookup has no filter, so the greeting
    reads the first case of the whole table, which is not theirs (they have none)."""
    _add_contact(crm, connector, "14155550188")
    all_cases = connector.client.get(crm.api_url + "incidents",
                                     params={"$select": "title,ticketnumber"}).json()["value"]
    result = run_flow(template, ani="+14155550188", http=connector,
                      caller=[press("2", when="MainMenu")])
    first = all_cases[0]
    assert result.prompts[1] == (
        f"Hello Edsger Dijkstra, your {first['ticketnumber']} with {first['title']} was found."
    )
    assert result.variables["CustomerType"] == "Existing"
    assert result.disconnected and not result.queued
    case_request = connector.sent[1]
    assert "$filter" not in httpx.QueryParams(case_request.url.query)


def test_existing_customer_pop_is_the_hard_coded_case(
    crm: RunningEmulator, template: Flow, connector: EmulatorConnector
) -> None:
    _add_contact(crm, connector, "14155550177")
    result = run_flow(template, ani="+14155550177", http=connector,
                      caller=[press("1", when="MainMenu")],
                      agent=[answer(after=40, agent_id="a1", name="Alan")])
    assert result.queued == ["CustomerCare"]
    (pop,) = result.screen_pops
    assert f"id={TEMPLATE_CASE_ID}" in pop.url
    assert pop.url.startswith("https://org734cd33d.crm.dynamics.com/main.aspx?")
    assert pop.label == "Customer Ticket details"


def test_menu_timeout_goes_straight_to_queue(
    crm: RunningEmulator, template: Flow, connector: EmulatorConnector
) -> None:
    _add_contact(crm, connector, "14155550166")
    result = run_flow(template, ani="+14155550166", http=connector, max_time=120)
    menu_prompts = [p for p in result.prompts if p.startswith("Please press 1")]
    assert len(menu_prompts) == 1  # played once: no re-prompt
    assert result.queued == ["CustomerCare"]


def test_crm_outage_goes_on_as_an_unknown_caller(template: Flow) -> None:
    """Webex's HTTP Request has one output: when the CRM does not answer at all the flow
    goes on with no data (`GetCustomerInfo.httpStatusCode` empty), the template's
    "NA" check takes the new-customer path, and the caller reaches the queue."""

    def unreachable(request: HttpRequest) -> HttpReply:
        return HttpReply.failure("connection refused")

    result = run_flow(template, ani="+14155550123", http=unreachable, max_time=120)
    assert result.prompts[0] == WELCOME
    assert result.variables["GetCustomerInfo.httpStatusCode"] is None
    (entry,) = [e for e in result.trace if e.activity == "GetCustomerInfo"]
    assert entry.output_taken == "success" and entry.error == "connection refused"
    assert "EndFlow_globalError" not in result.path
    assert result.queued == ["CustomerCare"]


def test_crm_error_status_takes_the_main_output_as_in_webex(
    crm: RunningEmulator, template: Flow, connector: EmulatorConnector
) -> None:
    """Webex's HTTP Request takes its one output on any response: a 503 is an answer
    (`GetCustomerInfo.httpStatusCode` says which), the customer stays unknown, and the
    caller still reaches the menu and the queue."""
    crm.set_faults(error_rate=1.0, error_status=503)
    try:
        result = run_flow(template, ani="+14155550123", http=connector, max_time=120)
    finally:
        crm.clear_faults()
    assert result.variables["GetCustomerInfo.httpStatusCode"] == 503
    assert "EndFlow_globalError" not in result.path
    assert result.queued == ["CustomerCare"]
