"""The bundled MS Dynamics data-dip flow, scenario by scenario, in the simulator."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from dipflow.engine.commands import Disconnect, Enqueue, PlayMusic
from dipflow.flow.bundled import bundled_path
from dipflow.flow.loader import load_flow
from dipflow.flow.model import Flow
from dipflow.testing import (
    HttpReply,
    SimulationResult,
    answer,
    hang_up,
    press,
    queue_fail,
    queue_update,
    run_flow,
)

ADA = "c0000000-0000-4000-8000-000000000001"
CASE = "e0000000-0000-4000-8000-000000000002"
WELCOME = "Welcome to customer care."
MENU = "Press 1 to speak to an agent. Press 2 to end the call."
APP_ID = "d1f10000-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(bundled_path("ms-dynamics-data-dip"))


def _contact(name: str = "Ada Lovelace", key: str = ADA, *cases: dict[str, Any]) -> dict[str, Any]:
    return {"contactid": key, "fullname": name, "incident_customer_contacts": list(cases)}


def _case(title: str = "Router keeps rebooting", ticket: str = "CAS-01003") -> dict[str, Any]:
    return {
        "incidentid": CASE,
        "title": title,
        "ticketnumber": ticket,
        "createdon": "2025-11-18T14:05:00Z",
    }


def _crm(*contacts: dict[str, Any], accounts: tuple[dict[str, Any], ...] = ()) -> Any:
    return {
        "GetCustomerInfo": HttpReply(
            json={"@odata.context": "https://crm/$metadata#contacts", "value": list(contacts)}
        ),
        "GetAccountInfo": HttpReply(
            json={"@odata.context": "https://crm/$metadata#accounts", "value": list(accounts)}
        ),
    }


KNOWN_WITH_CASE = _crm(_contact("Ada Lovelace", ADA, _case()))
KNOWN_NO_CASE = _crm(_contact("Grace Hopper", "c-2"))
UNKNOWN = _crm()
AMBIGUOUS = _crm(_contact("Sam Taylor", "c-3"), _contact("Sam Tailor", "c-4"))


def _run(flow: Flow, http: Any, **kw: Any) -> SimulationResult:
    kw.setdefault("max_time", 300)
    return run_flow(flow, http=http, **kw)


def _pop_query(result: SimulationResult) -> dict[str, list[str]]:
    assert len(result.screen_pops) == 1
    return parse_qs(urlsplit(result.screen_pops[0].url).query)


def test_lookup_is_one_exact_request_for_contact_and_latest_case(flow: Flow) -> None:
    result = _run(flow, KNOWN_WITH_CASE, caller=[hang_up(after=5)])
    (request,) = result.requests
    assert request.connector == "dynamics"
    assert request.method == "GET"
    assert request.path == "contacts"
    assert request.query["$select"] == "contactid,fullname"
    assert request.query["$top"] == "2"
    latest = "($select=incidentid,title,ticketnumber,createdon;$orderby=createdon desc;$top=1)"
    # As customer, as the case's Contact (B2B), and the company: single-level expands.
    assert request.query["$expand"] == (
        f"incident_customer_contacts{latest},contact_as_primary_contact{latest},"
        "parentcustomerid_account($select=accountid)"
    )
    odata_filter = request.query["$filter"]
    for column in ("telephone1", "mobilephone", "telephone2"):
        assert f"{column} eq '+14155550123'" in odata_filter
    assert "contains(" not in odata_filter
    assert odata_filter.endswith(") and statecode eq 0")  # merged duplicates are inactive
    assert request.timeout_s == 3.0


def test_hostile_caller_number_cannot_widen_the_query(flow: Flow) -> None:
    result = _run(flow, UNKNOWN, ani="1' or contactid ne null or '1", caller=[hang_up(after=5)])
    odata_filter = result.requests[0].query["$filter"]
    assert "ne null" not in odata_filter
    assert odata_filter == "contactid eq null"  # matches no row


def test_known_caller_with_a_case(flow: Flow) -> None:
    result = _run(
        flow,
        KNOWN_WITH_CASE,
        caller=[press("1", when="MainMenu")],
        agent=[answer(after=20, agent_id="a1", name="Ada")],
    )
    assert result.prompts[:3] == [
        WELCOME,
        "Hello Ada Lovelace. Your latest case, number CAS-01003, Router keeps rebooting, "
        "was found.",
        MENU,
    ]
    assert result.queued == ["CustomerCare"]
    enqueue = next(c for c in result.commands if isinstance(c, Enqueue))
    assert enqueue.data == {
        "Customer": "Ada Lovelace",
        "Case number": "CAS-01003",
        "Case title": "Router keeps rebooting",
        "Customer type": "known",
        "IVR path": "known caller, case CAS-01003 read out, pressed 1 for an agent",
    }
    pop = result.screen_pops[0]
    assert pop.agent_id == "a1"
    assert pop.label == "Customer case"
    assert pop.url == (
        f"http://127.0.0.1:8081/main.aspx?appid={APP_ID}"
        f"&pagetype=entityrecord&etn=incident&id={CASE}"
    )


def test_known_caller_without_a_case_gets_a_new_case_form(flow: Flow) -> None:
    result = _run(
        flow, KNOWN_NO_CASE, caller=[press("1", when="MainMenu")], agent=[answer(after=20)]
    )
    assert result.prompts[1] == "Hello Grace Hopper. We found no case for you."
    assert result.prompts[2] == MENU
    query = _pop_query(result)
    assert query["etn"] == ["incident"]
    assert "id" not in query
    assert query["extraqs"] == [
        "customerid=c-2&customeridname=Grace%20Hopper&customeridtype=contact&caseorigincode=1"
    ]
    assert result.screen_pops[0].label == "New case"


def test_unknown_caller_goes_to_an_agent_with_a_blank_case_form(flow: Flow) -> None:
    result = _run(flow, UNKNOWN, agent=[answer(after=10)])
    assert result.prompts[:2] == [
        WELCOME,
        "We could not find your details. Please wait while we find you an agent.",
    ]
    assert MENU not in result.prompts
    assert result.queued == ["CustomerCare"]
    assert result.variables["CustomerType"] == "new"
    assert result.variables["IVRPath"] == "unknown caller"
    assert _pop_query(result)["extraqs"] == ["caseorigincode=1"]


def test_ambiguous_caller_is_not_greeted_by_anyone_s_name(flow: Flow) -> None:
    result = _run(flow, AMBIGUOUS, agent=[answer(after=10)])
    assert not any("Sam" in p for p in result.prompts)
    assert result.variables["CustomerName"] == ""
    assert result.variables["IVRPath"] == "several customers share the number"
    assert _pop_query(result)["extraqs"] == ["caseorigincode=1"]


@pytest.mark.parametrize(
    "reply",
    [HttpReply(status=503, text="busy"), HttpReply.failure("connection refused")],
    ids=["http-503", "connection-error"],
)
def test_crm_error_greets_generically_and_routes_to_an_agent(flow: Flow, reply: HttpReply) -> None:
    result = _run(flow, {"GetCustomerInfo": reply}, agent=[answer(after=10)])
    assert result.prompts[:2] == [WELCOME, "Please wait while we find you an agent."]
    assert result.queued == ["CustomerCare"]
    assert result.variables["IVRPath"] == "customer lookup unavailable"
    assert not any(e.kind == "global_error" for e in result.trace)


def test_crm_timeout_greets_generically_and_routes_to_an_agent(flow: Flow) -> None:
    result = _run(flow, {"GetCustomerInfo": HttpReply.timeout()}, max_time=20)
    assert result.prompts[1] == "Please wait while we find you an agent."
    assert result.queued == ["CustomerCare"]
    start = next(e for e in result.trace if e.activity == "GetCustomerInfo")
    join = next(e for e in result.trace if e.activity == "WaitCustomerInfo")
    assert start.output_taken == "out"  # started at call arrival, without waiting
    assert join.output_taken == "timeout"
    assert join.ended_at is not None
    # the 3 s budget runs from the start, under the welcome prompt, not from the join
    assert join.ended_at - start.started_at == pytest.approx(3.0)
    assert join.started_at > start.started_at


def test_menu_1_queues_with_music(flow: Flow) -> None:
    result = _run(flow, KNOWN_WITH_CASE, caller=[press("1", when="MainMenu")], max_time=40)
    assert result.queued == ["CustomerCare"]
    assert any(isinstance(c, PlayMusic) for c in result.commands)
    assert not result.disconnected


def test_menu_2_says_goodbye_and_hangs_up(flow: Flow) -> None:
    result = _run(flow, KNOWN_WITH_CASE, caller=[press("2", when="MainMenu")])
    assert result.prompts[-1] == "Thank you for calling. Goodbye."
    assert result.disconnected and result.finished
    assert result.queued == []
    assert result.commands[-2:][0] == Disconnect(reason="normal")


def test_no_input_reprompts_three_times_then_queues(flow: Flow) -> None:
    result = _run(flow, KNOWN_WITH_CASE, max_time=60)
    assert result.prompts[2:7] == [
        MENU,
        "Sorry, we did not hear your choice.",
        MENU,
        "Sorry, we did not hear your choice.",
        MENU,
    ]
    assert result.queued == ["CustomerCare"]
    assert result.variables["IVRPath"].endswith("no menu choice")


def test_invalid_input_reprompts_then_queues(flow: Flow) -> None:
    result = _run(
        flow,
        KNOWN_WITH_CASE,
        caller=[
            press("7", when="MainMenu"),
            press("#", when="MainMenu"),
            press("0", when="MainMenu"),
        ],
        max_time=60,
    )
    assert result.prompts.count("Sorry, that is not a valid choice.") == 2
    assert result.prompts.count(MENU) == 3
    assert result.queued == ["CustomerCare"]
    assert result.variables["IVRPath"].endswith("invalid menu choices")


def test_invalid_then_2_hangs_up(flow: Flow) -> None:
    result = _run(
        flow, KNOWN_WITH_CASE, caller=[press("5", when="MainMenu"), press("2", when="MainMenu")]
    )
    assert result.disconnected
    assert result.queued == []


def test_caller_hangs_up_during_the_case_prompt(flow: Flow) -> None:
    result = _run(flow, KNOWN_WITH_CASE, caller=[hang_up(when="PlayCaseInfo", after=1.0)])
    assert result.hung_up and result.finished
    assert result.prompts[-1].startswith("Hello Ada Lovelace")
    assert result.queued == []
    assert not result.disconnected  # nobody hangs up on a caller who already left


def test_music_segments_announce_position_and_wait(flow: Flow) -> None:
    result = _run(
        flow,
        UNKNOWN,
        agent=[queue_update(after=5, position=4, wait_s=200)],
        max_time=120,
    )
    assert "You are number 4 in the queue. Your expected wait is about 4 minutes." in (
        result.prompts
    )
    assert result.path.count("PlayMusic") >= 3


def test_music_without_queue_news_thanks_the_caller(flow: Flow) -> None:
    result = _run(flow, UNKNOWN, max_time=45)
    assert result.prompts[-1] == "Thank you for waiting. An agent will be with you shortly."


def test_queue_fallback_from_configuration(flow: Flow) -> None:
    result = _run(
        flow,
        UNKNOWN,
        variables={"FallbackQueue": "Overflow", "QueueName": "Care"},
        agent=[queue_fail(after=5), answer(after=30)],
    )
    assert result.queued == ["Care", "Overflow"]
    assert len(result.screen_pops) == 1


def test_queue_failure_without_fallback_apologises_and_hangs_up(flow: Flow) -> None:
    result = _run(flow, UNKNOWN, agent=[queue_fail(after=5)])
    assert result.prompts[-1] == (
        "Sorry, no agent can take your call right now. Please call again later."
    )
    assert result.disconnected


def test_crm_data_is_escaped_before_it_is_spoken(flow: Flow) -> None:
    hostile = _crm(_contact("<speak>Eve</speak> & co", ADA, _case(title='Say "hi" {x}')))
    result = _run(flow, hostile, caller=[hang_up(when="MainMenu")])
    spoken = result.prompts[1]
    for char in '<>{}"':
        assert char not in spoken
    assert "Eve" in spoken and " and co" in spoken


def test_organisation_settings_change_the_screen_pop(flow: Flow) -> None:
    result = _run(
        flow,
        KNOWN_WITH_CASE,
        variables={"DynamicsUrl": "https://contoso.crm.dynamics.com", "DynamicsAppId": "app-9"},
        caller=[press("1", when="MainMenu")],
        agent=[answer(after=5)],
    )
    url = result.screen_pops[0].url
    assert url.startswith("https://contoso.crm.dynamics.com/main.aspx?appid=app-9&")


def _account(name: str, key: str, *cases: dict[str, Any]) -> dict[str, Any]:
    return {"accountid": key, "name": name, "incident_customer_accounts": list(cases)}


def test_unknown_contact_is_looked_up_in_accounts(flow: Flow) -> None:
    http = _crm(accounts=(_account("Contoso Ltd", "a-1", _case(title="Invoice dispute")),))
    result = _run(flow, http, caller=[press("1", when="MainMenu")], agent=[answer(after=5)])
    contacts, accounts = result.requests
    assert contacts.path == "contacts"
    assert accounts.path == "accounts"
    assert accounts.query["$select"] == "accountid,name"
    assert "telephone1 eq '+14155550123'" in accounts.query["$filter"]
    assert "mobilephone" not in accounts.query["$filter"]
    assert accounts.query["$expand"].startswith("incident_customer_accounts(")
    assert result.prompts[1].startswith("Hello Contoso Ltd. Your latest case")
    assert _pop_query(result)["id"] == [CASE]


def test_account_without_a_case_gets_an_account_case_form(flow: Flow) -> None:
    http = _crm(accounts=(_account("Contoso Ltd", "a-1"),))
    result = _run(flow, http, caller=[press("1", when="MainMenu")], agent=[answer(after=5)])
    assert _pop_query(result)["extraqs"] == [
        "customerid=a-1&customeridname=Contoso%20Ltd&customeridtype=account&caseorigincode=1"
    ]


def test_account_lookup_can_be_switched_off(flow: Flow) -> None:
    result = _run(flow, UNKNOWN, variables={"LookupAccounts": "false"}, max_time=20)
    assert [r.path for r in result.requests] == ["contacts"]
    assert result.variables["IVRPath"] == "unknown caller"


def test_account_lookup_failure_still_reaches_an_agent(flow: Flow) -> None:
    http = {**UNKNOWN, "GetAccountInfo": HttpReply(status=500)}
    result = _run(flow, http, max_time=20)
    assert result.prompts[1] == "Please wait while we find you an agent."
    assert result.queued == ["CustomerCare"]
