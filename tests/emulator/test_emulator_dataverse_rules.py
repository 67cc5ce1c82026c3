"""Where Dataverse is strict, the emulator is too: each test replays an example from
Microsoft Learn (Dataverse Web API pages named in each test) on the emulator's tables.

A flow tested offline must not pass here and fail on a real org, so these tests pin
the refusals and the exact response shapes the documentation shows.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dipflow.emulator.demo_data import (
    ADA_ID,
    ANDREW_ID,
    MARGARET_ID,
    MARGARET_MERGED_ID,
    NANCY_ID,
    NORTHWIND_ID,
)
from dipflow.emulator.schema import CONTACTS
from dipflow.emulator.settings import EmulatorSettings
from dipflow.emulator.testing import RunningEmulator, running_emulator

NESTED_MESSAGE = (
    "Only $select and $filter clause can be provided while doing $expand on many-to-one "
    "relationship or nested one-to-many relationship."
)
MISSING_ACCOUNT = "a0000000-0000-4000-8000-0000000000ff"
COUNT_ANNOTATIONS = (
    'odata.include-annotations="Microsoft.Dynamics.CRM.totalrecordcount,'
    'Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"'
)


def _error(response: httpx.Response) -> dict[str, str]:
    body: dict[str, dict[str, str]] = response.json()
    return body["error"]


# -- "Join tables using OData" -------------------------------------------------------


def test_single_expand_of_collections_is_unpaged_and_links_each_collection(
    api: httpx.Client, crm: RunningEmulator
) -> None:
    """ "Single $expand on collection-valued navigation properties": the page size applies
    to the accounts only; each expanded record carries its etag and the referencing
    lookup; each collection carries `<nav>@odata.nextLink`, the filtered collection
    with the query options and no paging."""
    response = api.get(
        "accounts",
        params={
            "$select": "name,accountid",
            "$filter": f"accountid eq {NORTHWIND_ID}",
            "$expand": "incident_customer_accounts($select=title),"
            "contact_customer_accounts($select=fullname)",
        },
        headers={"Prefer": "odata.maxpagesize=1"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["preference-applied"] == "odata.maxpagesize=1"
    body = response.json()
    assert body["@odata.context"] == (
        f"{crm.api_url}$metadata#accounts(name,accountid,"
        "incident_customer_accounts(title),contact_customer_accounts(fullname))"
    )
    (northwind,) = body["value"]
    cases = northwind["incident_customer_accounts"]
    assert len(cases) == 2  # not paged to 1: no nested $expand in this query
    for case in cases:
        assert set(case) == {"@odata.etag", "title", "_customerid_value", "incidentid"}
        assert case["_customerid_value"] == NORTHWIND_ID
    contacts = northwind["contact_customer_accounts"]
    assert {c["contactid"] for c in contacts} == {NANCY_ID, ANDREW_ID}
    assert all(c["_parentcustomerid_value"] == NORTHWIND_ID for c in contacts)
    link = northwind["incident_customer_accounts@odata.nextLink"]
    assert link == f"{crm.api_url}accounts({NORTHWIND_ID})/incident_customer_accounts?$select=title"
    assert (
        northwind["contact_customer_accounts@odata.nextLink"]
        == f"{crm.api_url}accounts({NORTHWIND_ID})/contact_customer_accounts?$select=fullname"
    )
    # "You can use that URL to send a separate GET request and it returns the same rows."
    again = httpx.get(link, headers=api.headers).json()["value"]
    assert {c["incidentid"] for c in again} == {c["incidentid"] for c in cases}


def test_expanded_collection_link_keeps_filter_order_and_top(
    api: httpx.Client, crm: RunningEmulator
) -> None:
    """The link is a URL a client can GET: options appended, spaces percent-encoded."""
    row = api.get(
        f"contacts({ADA_ID})",
        params={
            "$select": "fullname",
            "$expand": "incident_customer_contacts($select=title;$filter=statecode eq 0;"
            "$orderby=createdon desc;$top=1)",
        },
    ).json()
    link = row["incident_customer_contacts@odata.nextLink"]
    assert link.startswith(f"{crm.api_url}contacts({ADA_ID})/incident_customer_contacts?")
    assert " " not in link and "$orderby=createdon%20desc" in link
    followed = httpx.get(link, headers=api.headers).json()["value"]
    assert [c["title"] for c in followed] == [c["title"] for c in row["incident_customer_contacts"]]


def test_nested_expand_pages_every_collection(api: httpx.Client, crm: RunningEmulator) -> None:
    """ "Nested $expand on collection-valued navigation properties": with a nested
    `$expand` anywhere, `odata.maxpagesize` pages each expanded collection and each
    `<nav>@odata.nextLink` carries paging information."""
    response = api.get(
        f"accounts({NORTHWIND_ID})",
        params={
            "$select": "name,accountid",
            "$expand": "incident_customer_accounts($select=title),"
            "contact_customer_accounts($select=fullname;"
            "$expand=parentcustomerid_account($select=name))",
        },
        headers={"Prefer": "odata.maxpagesize=1"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"] == (
        f"{crm.api_url}$metadata#accounts(name,accountid,incident_customer_accounts(title),"
        "contact_customer_accounts(fullname,parentcustomerid_account(name)))/$entity"
    )
    (first_case,) = body["incident_customer_accounts"]
    assert "@odata.etag" not in first_case  # as in Microsoft's nested example
    (first_contact,) = body["contact_customer_accounts"]
    assert first_contact["parentcustomerid_account"]["name"] == "Northwind Traders"
    link = body["incident_customer_accounts@odata.nextLink"]
    assert "$skiptoken=" in link
    rest = httpx.get(link, headers={**api.headers, "Prefer": "odata.maxpagesize=1"}).json()
    (second_case,) = rest["value"]
    assert second_case["incidentid"] != first_case["incidentid"]
    assert "@odata.nextLink" not in rest


@pytest.mark.parametrize(
    "expand",
    [
        # the documented error: $top/$orderby next to a nested $expand
        "incident_customer_accounts($select=title;$top=1),"
        "contact_customer_accounts($select=fullname;$expand=parentcustomerid_account($select=name))",
        "incident_customer_accounts($select=title;$orderby=createdon desc),"
        "contact_customer_accounts($select=fullname;$expand=parentcustomerid_account($select=name))",
        "contact_customer_accounts($select=fullname;$orderby=fullname;"
        "$expand=parentcustomerid_account($select=name))",
        # many-to-one: only $select (and $filter) inside
        "primarycontactid($select=fullname;$top=1)",
        "primarycontactid($orderby=fullname)",
    ],
)
def test_top_and_orderby_refused_where_dataverse_refuses_them(
    api: httpx.Client, expand: str
) -> None:
    response = api.get("accounts", params={"$select": "name", "$expand": expand})
    assert response.status_code == 400, response.text
    assert _error(response) == {"code": "0x80060888", "message": NESTED_MESSAGE}


def test_top_and_orderby_allowed_in_a_single_level_expand(api: httpx.Client) -> None:
    """Without a nested `$expand` they are supported (the bundled flow relies on it)."""
    response = api.get(
        f"contacts({NANCY_ID})",
        params={
            "$select": "fullname",
            "$expand": "incident_customer_contacts($select=title;$orderby=createdon desc;$top=1),"
            "contact_as_primary_contact($select=title;$orderby=createdon desc;$top=1),"
            "parentcustomerid_account($select=name)",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["incident_customer_contacts"] == []
    assert [c["title"] for c in body["contact_as_primary_contact"]] == [
        "Pallet scanners offline at the depot"
    ]
    assert body["parentcustomerid_account"] == {
        "name": "Northwind Traders",
        "accountid": NORTHWIND_ID,
    }


# -- "Page results using OData" ------------------------------------------------------


def test_top_is_ignored_with_maxpagesize(api: httpx.Client) -> None:
    """ "Don't use $top with the Prefer: odata.maxpagesize request header. If you include
    both, $top is ignored.\""""
    prefer = {"Prefer": "odata.maxpagesize=2"}
    response = api.get("incidents", params={"$select": "title", "$top": "4"}, headers=prefer)
    body = response.json()
    assert response.headers["preference-applied"] == "odata.maxpagesize=2"
    assert len(body["value"]) == 2
    assert "@odata.nextLink" in body
    without_top = api.get("incidents", params={"$select": "title"}, headers=prefer).json()
    assert body["value"] == without_top["value"]
    assert len(api.get("incidents", params={"$top": "4"}).json()["value"]) == 4


# -- "Count rows using OData" --------------------------------------------------------


def test_count_with_total_record_count_annotations(api: httpx.Client) -> None:
    params = {"$select": "accountid", "$count": "true"}
    body = api.get("accounts", params=params, headers={"Prefer": COUNT_ANNOTATIONS}).json()
    assert body["@odata.count"] == 3 == len(body["value"])
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == 3
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False
    # "If you don't include the $count=true query option, the total ... value is -1."
    uncounted = api.get(
        "accounts", params={"$select": "accountid"}, headers={"Prefer": COUNT_ANNOTATIONS}
    ).json()
    assert uncounted["@Microsoft.Dynamics.CRM.totalrecordcount"] == -1
    assert "@odata.count" not in uncounted
    plain = api.get("accounts", params=params).json()
    assert not any(k.startswith("@Microsoft") for k in plain)


def test_count_segment_is_plain_text(api: httpx.Client) -> None:
    response = api.get("accounts/$count")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "3"
    merged = api.get("contacts/$count", params={"$filter": "new_phonee164 eq '+16175550142'"}).text
    assert merged == "2"
    assert api.get(f"contacts({ADA_ID})/$count").status_code == 400


def test_count_stops_at_5000_and_says_so() -> None:
    """ "When used with the $count=true query option and there are more than 5,000
    records": count 5000, totalrecordcount 5000, totalrecordcountlimitexceeded true."""
    with running_emulator(seed="none") as crm:
        columns = ["contactid", "fullname", "statecode"]
        rows = [[f"c1000000-0000-4000-8000-{n:012d}", f"Person {n}", 0] for n in range(5003)]
        crm.state.store.bulk_insert(CONTACTS, columns, rows)
        headers = {"Authorization": f"Bearer {crm.token()}", "Prefer": COUNT_ANNOTATIONS}
        with httpx.Client(base_url=crm.api_url, headers=headers, timeout=30) as api:
            body = api.get("contacts", params={"$select": "contactid", "$count": "true"}).json()
            assert body["@odata.count"] == 5000
            assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == 5000
            assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is True
            assert len(body["value"]) == 5000
            assert api.get("contacts/$count").text == "5000"
            few = api.get(
                "contacts",
                params={"$count": "true", "$filter": "startswith(fullname,'Person 500')"},
            ).json()
            assert few["@odata.count"] == 4  # Person 500, 5000, 5001, 5002
            assert few["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False


# -- "Filter rows using OData": lookup values ----------------------------------------


def test_lookup_filter_takes_a_bare_guid_and_refuses_a_quoted_one(api: httpx.Client) -> None:
    """A lookup filter and the filtered collection return the same rows; the GUID is an
    Edm.Guid literal. Quoted, it is an Edm.String and Dataverse answers 400."""
    filtered = api.get(
        "accounts", params={"$select": "name", "$filter": f"_primarycontactid_value eq {NANCY_ID}"}
    ).json()["value"]
    related = api.get(f"contacts({NANCY_ID})/account_primary_contact", params={"$select": "name"})
    assert [a["name"] for a in filtered] == [a["name"] for a in related.json()["value"]]
    assert [a["name"] for a in filtered] == ["Northwind Traders"]
    for filter_ in (
        f"_primarycontactid_value eq '{NANCY_ID}'",
        f"contactid eq '{ADA_ID}'",
        f"'{ADA_ID}' ne contactid",
    ):
        entity_set = "accounts" if filter_.startswith("_primary") else "contacts"
        response = api.get(entity_set, params={"$filter": filter_})
        assert response.status_code == 400, filter_
        error = _error(response)
        assert error["code"] == "0x80060888"
        assert "incompatible types" in error["message"]
        assert "'Edm.Guid' and 'Edm.String'" in error["message"]


# -- "Perform conditional operations using the Web API" ------------------------------


def test_conditional_retrieval_answers_304_for_an_unchanged_record(api: httpx.Client) -> None:
    path = f"accounts({NORTHWIND_ID})"
    params = {"$select": "name,accountnumber"}
    first = api.get(path, params=params)
    tag = first.json()["@odata.etag"]
    unchanged = api.get(path, params=params, headers={"If-None-Match": tag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == tag
    # "Query must not include $expand" / "must not include annotations": never 304
    expanded = api.get(
        path,
        params={**params, "$expand": "primarycontactid($select=fullname)"},
        headers={"If-None-Match": tag},
    )
    assert expanded.status_code == 200
    annotated = api.get(
        path,
        params=params,
        headers={"If-None-Match": tag, "Prefer": 'odata.include-annotations="*"'},
    )
    assert annotated.status_code == 200
    # `If-None-Match: null` (what clients send to defeat caches) never matches
    assert api.get(path, params=params, headers={"If-None-Match": "null"}).status_code == 200
    # a changed record is served again, with its new etag
    assert api.patch(path, json={"accountnumber": "ACC-1003"}).status_code == 204
    changed = api.get(path, params=params, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.json()["@odata.etag"] != tag


# -- Records a real org holds --------------------------------------------------------


def test_merged_duplicate_stays_inactive_with_its_phone_numbers(api: httpx.Client) -> None:
    """Dataverse merge deactivates the subordinate record and keeps it: only
    `statecode eq 0` tells the caller apart from their merged duplicate."""
    filter_ = "new_phonee164 eq '+16175550142'"
    everyone = api.get("contacts", params={"$select": "statecode", "$filter": filter_}).json()
    assert {(r["contactid"], r["statecode"]) for r in everyone["value"]} == {
        (MARGARET_ID, 0),
        (MARGARET_MERGED_ID, 1),
    }
    active = api.get(
        "contacts", params={"$select": "fullname", "$filter": f"{filter_} and statecode eq 0"}
    ).json()["value"]
    assert [r["contactid"] for r in active] == [MARGARET_ID]


def test_b2b_relationships_and_their_annotations(api: httpx.Client) -> None:
    nancy = api.get(
        f"contacts({NANCY_ID})",
        params={"$select": "fullname,_parentcustomerid_value"},
        headers={"Prefer": 'odata.include-annotations="*"'},
    ).json()
    assert nancy["_parentcustomerid_value"] == NORTHWIND_ID
    prefix = "_parentcustomerid_value@"
    assert nancy[prefix + "OData.Community.Display.V1.FormattedValue"] == "Northwind Traders"
    assert nancy[prefix + "Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert (
        nancy[prefix + "Microsoft.Dynamics.CRM.associatednavigationproperty"]
        == "parentcustomerid_account"
    )
    case: dict[str, Any] = api.get(
        "incidents",
        params={
            "$select": "title,_customerid_value,_primarycontactid_value",
            "$filter": f"_primarycontactid_value eq {NANCY_ID}",
        },
        headers={"Prefer": 'odata.include-annotations="*"'},
    ).json()["value"][0]
    assert case["_customerid_value"] == NORTHWIND_ID
    assert case["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert case["_primarycontactid_value@OData.Community.Display.V1.FormattedValue"] == (
        "Nancy Davolio"
    )


def test_b2b_records_can_be_written_with_odata_bind(api: httpx.Client) -> None:
    created = api.post(
        "contacts",
        json={
            "firstname": "Janet",
            "lastname": "Leverling",
            "telephone1": "312-555-0190",
            "parentcustomerid_account@odata.bind": f"/accounts({NORTHWIND_ID})",
        },
        headers={"Prefer": "return=representation"},
    )
    assert created.status_code == 201, created.text
    janet = created.json()
    assert janet["_parentcustomerid_value"] == NORTHWIND_ID
    case = api.post(
        "incidents",
        json={
            "title": "New badge reader",
            "customerid_account@odata.bind": f"/accounts({NORTHWIND_ID})",
            "primarycontactid@odata.bind": f"/contacts({janet['contactid']})",
        },
        headers={"Prefer": "return=representation"},
    )
    assert case.status_code == 201, case.text
    assert case.json()["_primarycontactid_value"] == janet["contactid"]
    missing = api.post(
        "contacts",
        json={
            "lastname": "Nobody",
            "parentcustomerid_account@odata.bind": f"/accounts({MISSING_ACCOUNT})",
        },
    )
    assert missing.status_code == 404
    two_customers = api.post(
        "incidents",
        json={
            "title": "x",
            "customerid_account@odata.bind": f"/accounts({NORTHWIND_ID})",
            "customerid_contact@odata.bind": f"/contacts({NANCY_ID})",
        },
    )
    assert two_customers.status_code == 400
    assert api.delete(f"contacts({janet['contactid']})").status_code == 204


# -- main.aspx ------------------------------------------------------------------------


def test_main_aspx_with_an_unknown_app_id_is_an_error_page(crm: RunningEmulator) -> None:
    def page(appid: str | None) -> httpx.Response:
        params = {"pagetype": "entityrecord", "etn": "contact", "id": ADA_ID}
        if appid is not None:
            params["appid"] = appid
        return httpx.get(f"{crm.base_url}/main.aspx", params=params)

    known = crm.settings.app_id
    assert page(known).status_code == 200
    assert page("{" + known.upper() + "}").status_code == 200
    assert page(None).status_code == 200  # Dynamics opens the user's default app
    unknown = page("8a18ed00-21e1-ed11-a7c6-000d3a8bcaaa")
    assert unknown.status_code == 404
    assert "App Not Found" in unknown.text
    assert "8a18ed00-21e1-ed11-a7c6-000d3a8bcaaa" in unknown.text
    hostile = page("<script>alert(1)</script>")
    assert hostile.status_code == 404 and "<script>" not in hostile.text


def test_an_org_can_know_further_app_ids() -> None:
    real_app = "8a18ed00-21e1-ed11-a7c6-000d3a8bcaaa"
    with running_emulator(settings=EmulatorSettings(extra_app_ids=frozenset({real_app}))) as crm:
        response = httpx.get(
            f"{crm.base_url}/main.aspx",
            params={"appid": real_app, "pagetype": "entityrecord", "etn": "contact", "id": ADA_ID},
        )
        assert response.status_code == 200
        assert "Ada Lovelace" in response.text
