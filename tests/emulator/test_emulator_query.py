"""OData queries over HTTP, after the examples in Microsoft's Web API query docs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dipflow.emulator.demo_data import ADA_ID, ALAN_ID, CONTOSO_ID, GRACE_ID, HOSTILE_NAME

FORMATTED = "@OData.Community.Display.V1.FormattedValue"


def _values(api: httpx.Client, entity_set: str, **params: str) -> list[dict[str, Any]]:
    response = api.get(entity_set, params=params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["value"]
    return rows


def _names(api: httpx.Client, filter_: str) -> set[str]:
    return {
        r["fullname"]
        for r in _values(api, "contacts", **{"$select": "fullname", "$filter": filter_})
    }


def test_collection_has_context_etag_and_only_selected_columns(api: httpx.Client) -> None:
    response = api.get("contacts", params={"$select": "fullname,telephone1", "$top": "1"})
    body = response.json()
    assert response.headers["odata-version"] == "4.0"
    assert body["@odata.context"].endswith("/api/data/v9.2/$metadata#contacts(fullname,telephone1)")
    (row,) = body["value"]
    assert set(row) == {"@odata.etag", "fullname", "telephone1", "contactid"}
    assert row["@odata.etag"].startswith('W/"')


def test_single_record_by_key(api: httpx.Client) -> None:
    response = api.get(f"contacts({ADA_ID})", params={"$select": "fullname"})
    body = response.json()
    assert response.status_code == 200
    assert body["fullname"] == "Ada Lovelace"
    assert body["contactid"] == ADA_ID
    assert body["@odata.context"].endswith("$metadata#contacts(fullname)/$entity")
    assert response.headers["etag"] == body["@odata.etag"]


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ("telephone1 eq '+1 (415) 555-0123'", {"Ada Lovelace"}),
        ("mobilephone eq '020 7946 0958'", {"Grace Hopper"}),
        ("telephone2 eq '+44 20 7123 4567'", {"Alan Turing"}),
        ("new_phonee164 eq '+14155550199'", {"Sam Taylor", "Sam Tailor"}),
        (
            "telephone1 eq '+1 (415) 555-0123' or mobilephone eq '+1 (415) 555-0123' "
            "or telephone2 eq '+1 (415) 555-0123' or new_phonee164 eq '+14155550123'",
            {"Ada Lovelace"},
        ),
        ("contains(fullname,'hopper')", {"Grace Hopper"}),  # case-insensitive like Dataverse
        ("startswith(fullname,'Sam T')", {"Sam Taylor", "Sam Tailor"}),
        ("endswith(fullname,'Turing')", {"Alan Turing"}),
        (
            "contains(fullname,'a') and not contains(fullname,'s')",
            {
                "Ada Lovelace",
                "Grace Hopper",
                "Alan Turing",
                "Margaret Hamilton",
                "Nancy Davolio",
                "Andrew Fuller",
            },
        ),
        (
            "(firstname eq 'Sam' or firstname eq 'Ada') and lastname ne 'Tailor'",
            {"Sam Taylor", "Ada Lovelace"},
        ),
        ("firstname eq null", {HOSTILE_NAME}),
        ("telephone2 ne null", {"Alan Turing"}),
        ("contactid eq c0000000-0000-4000-8000-000000000002", {"Grace Hopper"}),
        ("fullname eq 'grace hopper'", {"Grace Hopper"}),
        ("'Grace Hopper' eq fullname", {"Grace Hopper"}),
        ("contains(fullname,'Lovelace') eq true", {"Ada Lovelace"}),
        # T-SQL LIKE wildcards pass through, as on Dataverse ("Use wildcard characters")
        ("startswith(fullname,'A%Lovelace')", {"Ada Lovelace"}),
        ("startswith(fullname,'Sam Ta_lor')", {"Sam Taylor", "Sam Tailor"}),
        (
            "startswith(fullname,'[AG]')",
            {"Ada Lovelace", "Alan Turing", "Grace Hopper", "Andrew Fuller"},
        ),
        ("startswith(fullname,'Sam T[a-b]i')", {"Sam Tailor"}),
        ("startswith(fullname,'[^A-R<]')", {"Sam Taylor", "Sam Tailor"}),
        ("contains(fullname,'[<]img')", {HOSTILE_NAME}),
        ("contains(fullname,'LOVELACE')", {"Ada Lovelace"}),
    ],
)
def test_filter_operators_and_functions(
    api: httpx.Client, filter_: str, expected: set[str]
) -> None:
    assert _names(api, filter_) == expected


def test_filter_on_numbers_and_dates(api: httpx.Client) -> None:
    rows = _values(
        api,
        "incidents",
        **{
            "$select": "title",
            "$filter": f"_customerid_value eq {ADA_ID} and createdon ge 2025-10-01T00:00:00Z "
            "and prioritycode le 2",
        },
    )
    assert {r["title"] for r in rows} == {"Router keeps rebooting", "Invoice shows wrong address"}
    rows = _values(api, "incidents", **{"$filter": "createdon lt 2025-09-01 and statecode eq 1"})
    assert [r["title"] for r in rows] == ["Enigma machine needs new rotors"]
    rows = _values(api, "incidents", **{"$filter": "prioritycode gt 1.0 and prioritycode lt 3"})
    assert all(r["prioritycode"] == 2 for r in rows) and rows


def test_string_literal_with_doubled_quote(api: httpx.Client) -> None:
    rows = _values(api, "incidents", **{"$filter": "startswith(title,'O''Brien''s')"})
    assert [r["title"] for r in rows] == ["O'Brien's \"router\" & <b>modem</b>"]


def test_orderby_several_keys_and_top(api: httpx.Client) -> None:
    rows = _values(
        api,
        "incidents",
        **{"$select": "title,statecode,createdon", "$orderby": "statecode desc,createdon asc"},
    )
    keys = [(r["statecode"], r["createdon"]) for r in rows]
    assert keys == sorted(keys, key=lambda k: (-k[0], k[1]))
    top = _values(api, "incidents", **{"$orderby": "createdon desc", "$top": "2"})
    assert [r["title"] for r in top] == [
        "Pallet scanners offline at the depot",
        "Bombe calculation too slow",
    ]


def test_count_is_total_matches_not_page_size(api: httpx.Client) -> None:
    body = api.get(
        "incidents",
        params={"$filter": f"_customerid_value eq {ADA_ID}", "$count": "true", "$top": "1"},
    ).json()
    assert body["@odata.count"] == 3
    assert len(body["value"]) == 1
    assert "@odata.count" not in api.get("incidents", params={"$top": "1"}).json()


def test_expand_collection_with_nested_options(api: httpx.Client) -> None:
    rows = _values(
        api,
        "contacts",
        **{
            "$select": "fullname",
            "$filter": "new_phonee164 eq '+14155550123'",
            "$expand": "incident_customer_contacts($select=title,ticketnumber;"
            "$filter=statecode eq 0;$orderby=createdon desc;$top=1)",
        },
    )
    (ada,) = rows
    (case,) = ada["incident_customer_contacts"]
    assert case["title"] == "Router keeps rebooting"
    # The referencing lookup comes along unasked, as in Microsoft's expand examples.
    assert set(case) == {"@odata.etag", "title", "ticketnumber", "_customerid_value", "incidentid"}
    assert case["_customerid_value"] == ADA_ID


def test_expand_on_account_and_empty_collection(api: httpx.Client) -> None:
    body = api.get(
        f"accounts({CONTOSO_ID})",
        params={"$select": "name", "$expand": "incident_customer_accounts($select=title)"},
    ).json()
    assert [c["title"] for c in body["incident_customer_accounts"]] == [
        "Invoice dispute for October"
    ]
    grace = api.get(
        f"contacts({GRACE_ID})", params={"$expand": "incident_customer_contacts"}
    ).json()
    assert grace["incident_customer_contacts"] == []


def test_expand_single_valued_customer(api: httpx.Client) -> None:
    rows = _values(
        api,
        "incidents",
        **{
            "$select": "title",
            "$filter": "ticketnumber eq 'CAS-01005-C0N7S0' or ticketnumber eq 'CAS-01007-T4U5V6'",
            "$orderby": "ticketnumber",
            "$expand": "customerid_contact($select=fullname),customerid_account($select=name)",
        },
    )
    contoso, alan = rows
    assert contoso["customerid_contact"] is None
    assert contoso["customerid_account"]["name"] == "Contoso Ltd"
    # A single-valued expansion carries no etag ("Join tables using OData" examples).
    assert alan["customerid_contact"] == {"fullname": "Alan Turing", "contactid": ALAN_ID}
    assert alan["customerid_account"] is None


def test_related_collection_path(api: httpx.Client) -> None:
    rows = _values(
        api, f"contacts({ALAN_ID})/incident_customer_contacts", **{"$orderby": "createdon desc"}
    )
    assert [r["title"] for r in rows] == [
        "Bombe calculation too slow",
        "Enigma machine needs new rotors",
    ]


def test_annotations_only_when_preferred(api: httpx.Client) -> None:
    params = {
        "$select": "title,_customerid_value,statecode,createdon",
        "$filter": "ticketnumber eq 'CAS-01003-R7K2QZ'",
    }
    plain = api.get("incidents", params=params).json()["value"][0]
    assert not any("@" in k and k != "@odata.etag" for k in plain)
    response = api.get(
        "incidents", params=params, headers={"Prefer": 'odata.include-annotations="*"'}
    )
    row = response.json()["value"][0]
    assert row[f"_customerid_value{FORMATTED}"] == "Ada Lovelace"
    assert row["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "contact"
    assert (
        row["_customerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"]
        == "customerid_contact"
    )
    assert row[f"statecode{FORMATTED}"] == "Active"
    assert row[f"createdon{FORMATTED}"] == "11/18/2025 2:05 PM"
    assert "odata.include-annotations" in response.headers["preference-applied"]
    only_formatted = api.get(
        "incidents",
        params=params,
        headers={"Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'},
    ).json()["value"][0]
    assert f"_customerid_value{FORMATTED}" in only_formatted
    assert "_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname" not in only_formatted


def test_service_document_lists_entity_sets(api: httpx.Client) -> None:
    body = api.get("").json()
    assert {e["name"] for e in body["value"]} == {"contacts", "accounts", "incidents"}


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("Account", {}, 404, "0x8006088a"),
        ("contacts(c0000000-0000-4000-8000-0000000000ff)", {}, 404, "0x80040217"),
        ("contacts", {"$select": "FullName"}, 400, "0x0"),
        ("contacts", {"$orderby": "nosuchcolumn desc"}, 400, "0x0"),
        ("contacts", {"$filter": "nosuch eq 'x'"}, 400, "0x0"),
        ("contacts", {"$filter": "fullname eq"}, 400, "0x80060888"),
        ("contacts", {"$filter": "fullname eq 'unterminated"}, 400, "0x80060888"),
        ("contacts", {"$filter": "telephone1 eq 4155550123"}, 400, "0x80060888"),
        ("contacts", {"$filter": "tolower(fullname) eq 'x'"}, 400, "0x80060888"),
        ("contacts", {"$filter": "fullname gt null"}, 400, "0x80060888"),
        ("contacts", {"$top": "-1"}, 400, "0x80060888"),
        ("contacts", {"$top": "ten"}, 400, "0x80060888"),
        ("contacts", {"$count": "yes"}, 400, "0x80060888"),
        ("contacts", {"$skip": "10"}, 400, "0x80060888"),
        ("contacts", {"$orderby": "fullname sideways"}, 400, "0x80060888"),
        ("contacts", {"$expand": "nosuchnav"}, 400, "0x80060888"),
        ("contacts", {"$expand": "incident_customer_contacts($top=1"}, 400, "0x80060888"),
        ("incidents", {"$expand": "customerid_contact($top=1)"}, 400, "0x80060888"),
        ("contacts(not-a-guid)", {}, 400, "0x80060888"),
    ],
)
def test_errors_have_dataverse_shape(
    api: httpx.Client, path: str, params: dict[str, str], status: int, code: str
) -> None:
    response = api.get(path, params=params)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


def test_paging_with_maxpagesize_and_nextlink(api: httpx.Client) -> None:
    prefer = {"Prefer": "odata.maxpagesize=3"}
    params = {"$select": "title", "$orderby": "createdon asc", "$count": "true"}
    seen: list[str] = []
    response = api.get("incidents", params=params, headers=prefer)
    assert "odata.maxpagesize=3" in response.headers["preference-applied"]
    body = response.json()
    total = body["@odata.count"]
    pages = 0
    while True:
        pages += 1
        assert len(body["value"]) <= 3
        seen += [r["title"] for r in body["value"]]
        link = body.get("@odata.nextLink")
        if link is None:
            break
        assert "%24skiptoken=" in link or "$skiptoken=" in link
        body = httpx.get(link, headers={**api.headers, **prefer}).json()
    assert len(seen) == total == len(set(seen)) and pages == -(-total // 3)
    everything = _values(api, "incidents", **{"$select": "title", "$orderby": "createdon asc"})
    assert seen == [r["title"] for r in everything]


def test_bad_skiptokens_are_400(api: httpx.Client) -> None:
    prefer = {"Prefer": "odata.maxpagesize=2"}
    for token in ("garbage!", "e30", "W10", "eyJvZmZzZXQiOiAtMX0"):
        response = api.get("incidents", params={"$skiptoken": token}, headers=prefer)
        assert response.status_code == 400, token


def test_who_am_i(api: httpx.Client) -> None:
    body = api.get("WhoAmI").json()
    assert set(body) == {"@odata.context", "BusinessUnitId", "UserId", "OrganizationId"}
    wrong = api.post("WhoAmI", json={})
    assert wrong.status_code == 404
    assert wrong.json()["error"]["message"].startswith("No HTTP resource was found")
