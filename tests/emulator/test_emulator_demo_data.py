"""DEMO_CALLERS agrees with what the emulator serves (other areas' tests rely on it)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dipflow.emulator.demo_data import (
    DEMO_CALLERS,
    ORG_CALLERS,
    UNKNOWN_ANI,
    DemoCaller,
    demo_caller,
)

PHONES = ("telephone1", "mobilephone", "telephone2", "new_phonee164")


def _matches(api: httpx.Client, entity_set: str, name: str, ani: str) -> list[dict[str, object]]:
    expand = (
        "incident_customer_contacts" if entity_set == "contacts" else "incident_customer_accounts"
    )
    rows: list[dict[str, object]] = api.get(
        entity_set,
        params={
            "$select": name,
            "$filter": f"new_phonee164 eq '{ani}'",
            "$expand": f"{expand}($select=title,ticketnumber;$orderby=createdon desc;$top=1)",
        },
    ).json()["value"]
    return rows


@pytest.mark.parametrize("caller", DEMO_CALLERS, ids=lambda c: c.label)
def test_demo_caller_matches_served_data(api: httpx.Client, caller: DemoCaller) -> None:
    contacts = _matches(api, "contacts", "fullname", caller.ani)
    accounts = _matches(api, "accounts", "name", caller.ani)
    assert len(contacts) + len(accounts) == caller.matches
    if caller.matches != 1:
        assert caller.expected_fullname is None and caller.customer_id is None
        return
    if caller.customer_type == "contact":
        (row,) = contacts
        assert row["fullname"] == caller.expected_fullname
        assert row["contactid"] == caller.customer_id
        cases = row["incident_customer_contacts"]
    else:
        (row,) = accounts
        assert row["name"] == caller.expected_fullname
        assert row["accountid"] == caller.customer_id
        cases = row["incident_customer_accounts"]
    assert isinstance(cases, list)
    if caller.latest_case_id is None:
        assert cases == []
    else:
        assert cases[0]["incidentid"] == caller.latest_case_id
        assert cases[0]["title"] == caller.latest_case_title
        assert cases[0]["ticketnumber"] == caller.latest_case_ticket


def test_required_demo_records(api: httpx.Client) -> None:
    ada = demo_caller("ada")
    row = api.get(f"contacts({ada.customer_id})").json()
    assert row["telephone1"] == "+1 (415) 555-0123"
    assert (
        api.get(
            "incidents",
            params={"$filter": f"_customerid_value eq {ada.customer_id}", "$count": "true"},
        ).json()["@odata.count"]
        == 3
    )
    grace = api.get(f"contacts({demo_caller('grace').customer_id})").json()
    assert grace["mobilephone"] == "020 7946 0958"
    ambiguous = api.get("contacts", params={"$filter": "telephone1 eq '+1 415 555 0199'"}).json()[
        "value"
    ]
    assert len({r["contactid"] for r in ambiguous}) == 2
    alan = api.get(f"contacts({demo_caller('alan').customer_id})").json()
    assert alan["telephone2"] == "+44 20 7123 4567"
    contoso = api.get(f"accounts({demo_caller('contoso').customer_id})").json()
    assert contoso["name"] == "Contoso Ltd" and contoso["telephone1"] == "+1 206 555 0100"
    assert UNKNOWN_ANI == "+15005550006"
    for caller in DEMO_CALLERS:
        assert caller.ani.startswith("+") and caller.ani[1:].isdigit()


def _latest(cases: list[dict[str, Any]]) -> dict[str, Any] | None:
    return max(cases, key=lambda c: str(c["createdon"]), default=None)


@pytest.mark.parametrize("caller", ORG_CALLERS, ids=lambda c: c.label)
def test_org_caller_matches_served_data_under_an_orgs_rules(
    api: httpx.Client, caller: DemoCaller
) -> None:
    """ORG_CALLERS hold what a lookup following a real org's rules must find: active
    records only; the caller's own or named cases first, else their account's."""
    cases_select = "$select=title,ticketnumber,createdon;$orderby=createdon desc;$top=1"
    rows = api.get(
        "contacts",
        params={
            "$select": "fullname,_parentcustomerid_value",
            "$filter": f"new_phonee164 eq '{caller.ani}' and statecode eq 0",
            "$expand": f"incident_customer_contacts({cases_select}),"
            f"contact_as_primary_contact({cases_select})",
        },
    ).json()["value"]
    (row,) = rows
    assert caller.matches == 1
    assert row["fullname"] == caller.expected_fullname
    assert row["contactid"] == caller.customer_id
    case = _latest(row["incident_customer_contacts"] + row["contact_as_primary_contact"])
    if case is None and row["_parentcustomerid_value"]:
        case = _latest(
            api.get(
                f"accounts({row['_parentcustomerid_value']})/incident_customer_accounts",
                params={
                    "$select": "title,ticketnumber,createdon",
                    "$orderby": "createdon desc",
                    "$top": "1",
                },
            ).json()["value"]
        )
    assert case is not None
    assert (case["incidentid"], case["title"], case["ticketnumber"]) == (
        caller.latest_case_id,
        caller.latest_case_title,
        caller.latest_case_ticket,
    )
