"""Dataverse caller lookups over recorded Web API payloads."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest

from dipflow.connectors import AuthError, Connectors, CrmUnavailable
from dipflow.connectors.dynamics import Dataverse, MatchKind
from dipflow.flow.dynamics_filters import odata_phone_filter
from tests.connectors.fake_crm import ADA_ID, ADA_WITH_CASE, ENV, ORG, FakeCrm, dataverse_config

LATEST = "($select=incidentid,title,ticketnumber,createdon;$orderby=createdon desc;$top=1)"
# The caller's cases as customer and as the case's Contact (B2B), and their company:
# single-level expands, the only form in which Dataverse allows $top/$orderby.
EXPAND = (
    f"incident_customer_contacts{LATEST},contact_as_primary_contact{LATEST},"
    "parentcustomerid_account($select=accountid)"
)


def query_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}


def dataverse(crm: FakeCrm, **overrides: object) -> tuple[Connectors, Dataverse]:
    connectors = Connectors(
        [dataverse_config(**overrides)], environ=ENV, transport=httpx.MockTransport(crm)
    )
    return connectors, Dataverse(connectors, "dynamics")


async def test_unique_contact_and_latest_case_in_one_round_trip(crm: FakeCrm) -> None:
    crm.script = [httpx.Response(200, json=ADA_WITH_CASE)]
    connectors, dv = dataverse(crm)
    async with connectors:
        match = await dv.lookup_caller("+14155550123")
    assert match.kind is MatchKind.UNIQUE and match.found
    assert match.customer is not None and match.customer.name == "Ada Lovelace"
    assert match.customer.id == ADA_ID and match.customer.entity == "contact"
    assert match.latest_case is not None
    assert match.latest_case.title == "Router keeps rebooting"
    assert match.latest_case.ticket_number == "CAS-01003-X1Y2Z3"
    assert match.round_trips == 1
    (sent,) = crm.api_requests
    assert sent.url.path == "/api/data/v9.2/contacts"
    assert query_of(sent) == {
        "$select": "contactid,fullname",
        "$filter": odata_phone_filter("+14155550123", active_only=True),
        "$top": "2",
        "$expand": EXPAND,
    }


async def test_two_matches_mean_no_unique_customer(crm: FakeCrm) -> None:
    twins = {
        "value": [
            {"fullname": "Twin One", "contactid": "b0000000-0000-4000-8000-000000000001"},
            {"fullname": "Twin Two", "contactid": "b0000000-0000-4000-8000-000000000002"},
        ]
    }
    crm.script = [httpx.Response(200, json=twins)]
    connectors, dv = dataverse(crm)
    async with connectors:
        match = await dv.lookup_caller("+14155550199")
    assert match.kind is MatchKind.AMBIGUOUS
    assert match.customer is None and not match.found


async def test_two_request_form_asks_for_the_customers_latest_case(crm: FakeCrm) -> None:
    contact = {"value": [{"fullname": "Ada Lovelace", "contactid": ADA_ID}]}
    cases = {
        "value": [
            {
                "incidentid": "c0c0c0c0-0000-4000-8000-000000000003",
                "title": "Router keeps rebooting",
                "ticketnumber": "CAS-01003",
                "createdon": "2026-11-20T09:00:00Z",
            }
        ]
    }
    crm.script = [httpx.Response(200, json=contact), httpx.Response(200, json=cases)]
    connectors, dv = dataverse(crm)
    async with connectors:
        match = await dv.lookup_caller("4155550123", expand=False)
    assert match.round_trips == 2
    assert match.latest_case is not None and match.latest_case.title == "Router keeps rebooting"
    first, second = crm.api_requests
    assert "$expand" not in query_of(first)
    assert second.url.path == "/api/data/v9.2/incidents"
    assert query_of(second) == {
        "$select": "incidentid,title,ticketnumber,createdon",
        "$filter": f"_customerid_value eq {ADA_ID}",
        "$orderby": "createdon desc",
        "$top": "1",
    }


async def test_contact_without_cases(crm: FakeCrm) -> None:
    row = {"fullname": "Grace Hopper", "contactid": ADA_ID, "incident_customer_contacts": []}
    crm.script = [httpx.Response(200, json={"value": [row]})]
    connectors, dv = dataverse(crm)
    async with connectors:
        match = await dv.lookup_caller("+442079460958")
    assert match.found and match.latest_case is None


async def test_accounts_are_searched_when_no_contact_matches(crm: FakeCrm) -> None:
    account = {
        "value": [
            {
                "name": "Contoso",
                "accountid": "d0000000-0000-4000-8000-000000000001",
                "incident_customer_accounts": [],
            }
        ]
    }
    crm.script = [httpx.Response(200, json={"value": []}), httpx.Response(200, json=account)]
    connectors, dv = dataverse(crm, phone={"match_accounts": True})
    async with connectors:
        match = await dv.lookup_caller("+12065550100")
    assert match.found and match.customer is not None
    assert match.customer.entity == "account" and match.customer.name == "Contoso"
    second = crm.api_requests[1]
    assert second.url.path == "/api/data/v9.2/accounts"
    query = query_of(second)
    assert query["$select"] == "accountid,name"
    assert "mobilephone" not in query["$filter"]
    assert query["$expand"].startswith("incident_customer_accounts(")


async def test_e164_column_is_part_of_the_lookup(crm: FakeCrm) -> None:
    connectors, dv = dataverse(crm, phone={"e164_column": "new_phonee164"})
    async with connectors:
        match = await dv.lookup_caller("+14155550123")
    assert match.kind is MatchKind.NONE
    assert query_of(crm.api_requests[0])["$filter"].startswith(
        "(new_phonee164 eq '+14155550123' or "
    )


@pytest.mark.parametrize("ani", ["", "anonymous", "+", "' or 1 eq 1", "9" * 200])
async def test_invalid_ani_is_no_match_without_a_request(crm: FakeCrm, ani: str) -> None:
    connectors, dv = dataverse(crm)
    async with connectors:
        match = await dv.lookup_caller(ani)
    assert match.kind is MatchKind.NONE and match.round_trips == 0
    assert crm.api_requests == []


async def test_failures_surface_as_connector_errors(crm: FakeCrm) -> None:
    crm.script = [httpx.Response(503), httpx.Response(503), httpx.Response(403)]
    connectors, dv = dataverse(crm)
    async with connectors:
        with pytest.raises(CrmUnavailable, match="503"):
            await dv.lookup_caller("+14155550123")
        with pytest.raises(AuthError):
            await dv.lookup_caller("+14155550123")


async def test_payload_without_value_is_unavailable(crm: FakeCrm) -> None:
    crm.script = [httpx.Response(200, json={"@odata.context": f"{ORG}/api/data/v9.2/$metadata"})]
    connectors, dv = dataverse(crm)
    async with connectors:
        with pytest.raises(CrmUnavailable, match="value"):
            await dv.lookup_caller("+14155550123")


async def test_e164_only_is_one_exact_probe(crm: FakeCrm) -> None:
    connectors, dv = dataverse(
        crm, phone={"e164_column": "new_phonee164", "e164_only": True, "match_accounts": False}
    )
    async with connectors:
        await dv.lookup_caller("(415) 555-0123")
        await dv.lookup_caller("' or 1 eq 1")
    assert (
        query_of(crm.api_requests[0])["$filter"]
        == "(new_phonee164 eq '+14155550123') and statecode eq 0"
    )
    assert len(crm.api_requests) == 1  # the hostile ANI sent nothing


@pytest.mark.parametrize(
    "phone",
    [
        {"phone_columns": ["telephone1 or 1 eq 1"]},
        {"phone_columns": []},
        {"e164_column": "New_E164"},
        {"e164_only": True},
    ],
)
def test_phone_settings_are_validated(phone: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="phone"):
        dataverse_config(phone=phone)
