"""POST, PATCH and DELETE round trips, etags and optimistic concurrency."""

from __future__ import annotations

import re

import httpx

from dipflow.emulator.demo_data import ADA_ID, GRACE_ID

GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _created_id(response: httpx.Response, entity_set: str) -> str:
    match = re.search(
        rf"/api/data/v9\.2/{entity_set}\(({GUID})\)$", response.headers["odata-entityid"]
    )
    assert match, response.headers
    return match.group(1)


def test_create_update_delete_contact(api: httpx.Client) -> None:
    created = api.post(
        "contacts",
        json={"firstname": "Katherine", "lastname": "Johnson", "telephone1": "+1 757 555 0101"},
    )
    assert created.status_code == 204
    key = _created_id(created, "contacts")
    row = api.get(f"contacts({key})").json()
    assert row["fullname"] == "Katherine Johnson"  # Dataverse composes fullname
    assert row["statecode"] == 0 and row["createdon"]
    first_etag = row["@odata.etag"]

    patched = api.patch(
        f"contacts({key})", json={"lastname": "Goble", "mobilephone": "757-555-0102"}
    )
    assert patched.status_code == 204
    row = api.get(f"contacts({key})").json()
    assert row["fullname"] == "Katherine Goble"
    assert row["mobilephone"] == "757-555-0102"
    assert row["@odata.etag"] != first_etag

    assert api.delete(f"contacts({key})").status_code == 204
    gone = api.get(f"contacts({key})")
    assert gone.status_code == 404
    assert api.delete(f"contacts({key})").status_code == 404


def test_create_with_representation(api: httpx.Client) -> None:
    response = api.post(
        "accounts?$select=name,telephone1",
        json={"name": "Woodgrove Bank", "telephone1": "+1 212 555 0177"},
        headers={"Prefer": "return=representation"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Woodgrove Bank"
    assert set(body) >= {"@odata.context", "@odata.etag", "accountid", "name", "telephone1"}
    assert "statecode" not in body
    assert _created_id(response, "accounts") == body["accountid"]


def test_create_case_bound_to_contact_gets_ticket_number(api: httpx.Client) -> None:
    response = api.post(
        "incidents",
        json={
            "title": "Line is noisy",
            "caseorigincode": 1,
            "customerid_contact@odata.bind": f"/contacts({GRACE_ID})",
        },
        headers={"Prefer": 'return=representation,odata.include-annotations="*"'},
    )
    assert response.status_code == 201, response.text
    case = response.json()
    assert re.fullmatch(r"CAS-\d{5}-[A-Z0-9]{6}", case["ticketnumber"])
    assert case["_customerid_value"] == GRACE_ID
    assert case["_customerid_value@OData.Community.Display.V1.FormattedValue"] == "Grace Hopper"
    latest = api.get(
        "incidents",
        params={
            "$filter": f"_customerid_value eq {GRACE_ID}",
            "$orderby": "createdon desc",
            "$top": "1",
        },
    ).json()["value"]
    assert latest[0]["incidentid"] == case["incidentid"]
    assert api.delete(f"incidents({case['incidentid']})").status_code == 204


def test_case_needs_an_existing_customer(api: httpx.Client) -> None:
    assert api.post("incidents", json={"title": "orphan"}).status_code == 400
    missing = api.post(
        "incidents",
        json={
            "title": "x",
            "customerid_contact@odata.bind": "/contacts(c0000000-0000-4000-8000-0000000000ff)",
        },
    )
    assert missing.status_code == 404
    wrong_type = api.post(
        "incidents", json={"title": "x", "customerid_contact@odata.bind": f"/accounts({ADA_ID})"}
    )
    assert wrong_type.status_code == 400


def test_if_match_etag_is_optimistic_concurrency(api: httpx.Client) -> None:
    key = _created_id(
        api.post("contacts", json={"firstname": "Mary", "lastname": "Jackson"}), "contacts"
    )
    etag = api.get(f"contacts({key})").json()["@odata.etag"]
    assert (
        api.patch(
            f"contacts({key})", json={"telephone1": "1"}, headers={"If-Match": etag}
        ).status_code
        == 204
    )
    stale = api.patch(f"contacts({key})", json={"telephone1": "2"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "0x80060882"
    assert api.get(f"contacts({key})").json()["telephone1"] == "1"
    assert api.delete(f"contacts({key})", headers={"If-Match": etag}).status_code == 412
    assert api.delete(f"contacts({key})").status_code == 204


def test_patch_is_upsert_unless_if_match_star(api: httpx.Client) -> None:
    key = "c0000000-0000-4000-8000-00000000abcd"
    assert (
        api.patch(
            f"contacts({key})", json={"lastname": "Upserted"}, headers={"If-Match": "*"}
        ).status_code
        == 404
    )
    assert api.patch(f"contacts({key})", json={"lastname": "Upserted"}).status_code == 204
    assert api.get(f"contacts({key})").json()["fullname"] == "Upserted"
    assert (
        api.patch(
            f"contacts({key})", json={"firstname": "X"}, headers={"If-None-Match": "*"}
        ).status_code
        == 412
    )
    assert api.delete(f"contacts({key})").status_code == 204


def test_bad_payloads_are_400_and_change_nothing(api: httpx.Client) -> None:
    before = api.get("contacts", params={"$count": "true", "$top": "0"}).json()["@odata.count"]
    for body in (
        b"{not json",
        b"[]",
        b'{"Name": "x"}',
        b'{"statecode": "zero"}',
        b'{"fullname": 5}',
        b"\xff\xfe",
    ):
        response = api.post("contacts", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "0x80048d19"
    deep = b"[" * 100000 + b"]" * 100000
    assert (
        api.post("contacts", content=deep, headers={"Content-Type": "application/json"}).status_code
        == 400
    )
    assert (
        api.get("contacts", params={"$count": "true", "$top": "0"}).json()["@odata.count"] == before
    )


def test_writes_need_a_record_or_the_set(api: httpx.Client) -> None:
    assert api.post(f"contacts({ADA_ID})", json={}).status_code == 405
    assert api.patch("contacts", json={}).status_code == 405
    assert api.delete("contacts").status_code == 405


def test_patch_with_representation_returns_the_record(api: httpx.Client) -> None:
    key = _created_id(api.post("contacts", json={"lastname": "Vaughan"}), "contacts")
    response = api.patch(
        f"contacts({key})?$select=fullname,telephone1",
        json={"firstname": "Dorothy", "telephone1": "+1 757 555 0103"},
        headers={"Prefer": "return=representation"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["fullname"] == "Dorothy Vaughan"
    assert body["telephone1"] == "+1 757 555 0103"
    assert response.headers["etag"] == body["@odata.etag"]
    assert api.delete(f"contacts({key})").status_code == 204


def test_plus_sign_must_be_percent_encoded(api: httpx.Client) -> None:
    """As on Dataverse, a raw `+` in the query string is a space; httpx encodes it as %2B."""
    encoded = api.get("contacts", params={"$filter": "new_phonee164 eq '+14155550123'"})
    assert len(encoded.json()["value"]) == 1
    raw = api.get("contacts?$filter=new_phonee164 eq '+14155550123'")
    assert raw.status_code == 200
    assert raw.json()["value"] == []


def test_bad_select_on_a_write_changes_nothing(api: httpx.Client) -> None:
    response = api.post(
        "contacts?$select=nosuch",
        json={"lastname": "NeverWritten"},
        headers={"Prefer": "return=representation"},
    )
    assert response.status_code == 400
    assert (
        api.get("contacts", params={"$filter": "lastname eq 'NeverWritten'"}).json()["value"] == []
    )


def test_oversized_body_is_413(api: httpx.Client) -> None:
    big = b'{"description": "' + b"x" * 1_100_000 + b'"}'
    response = api.post("contacts", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
