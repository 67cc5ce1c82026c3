"""The main.aspx pages a screen pop opens: content, escaping, CSP, new-case form."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest

from dipflow.emulator.demo_data import (
    ADA_ID,
    DEMO_CALLERS,
    HOSTILE_CASE_TITLE,
    HOSTILE_ID,
    HOSTILE_NAME,
    demo_caller,
)
from dipflow.emulator.testing import RunningEmulator

APP_ID = "d1f10000-0000-4000-8000-000000000001"


def _page(crm: RunningEmulator, **params: str) -> httpx.Response:
    query = {"appid": APP_ID, "pagetype": "entityrecord", **params}
    return httpx.get(f"{crm.base_url}/main.aspx", params=query)


def test_case_page_shows_the_case(crm: RunningEmulator) -> None:
    ada = demo_caller("ada")
    assert ada.latest_case_id is not None
    response = _page(crm, etn="incident", id=ada.latest_case_id)
    assert response.status_code == 200
    html = response.text
    assert '<h1 id="case-title">Router keeps rebooting</h1>' in html
    assert "CAS-01003-R7K2QZ" in html
    assert "Ada Lovelace" in html
    assert "2025-11-18T14:05:00Z" in html
    assert f"etn=contact&amp;id={ADA_ID}" in html


def test_every_demo_case_page_exists(crm: RunningEmulator) -> None:
    for caller in DEMO_CALLERS:
        if caller.latest_case_id:
            assert _page(crm, etn="incident", id=caller.latest_case_id).status_code == 200


def test_hostile_names_render_as_text(crm: RunningEmulator) -> None:
    hostile = demo_caller("hostile")
    assert hostile.latest_case_id is not None
    html = _page(crm, etn="incident", id=hostile.latest_case_id).text
    assert HOSTILE_NAME not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert HOSTILE_CASE_TITLE not in html
    assert "O&#39;Brien&#39;s &#34;router&#34; &amp; &lt;b&gt;modem&lt;/b&gt;" in html
    assert "<script" not in html
    contact_html = _page(crm, etn="contact", id=HOSTILE_ID).text
    assert "<img" not in contact_html


def test_pages_send_a_strict_csp_and_use_local_css(crm: RunningEmulator) -> None:
    response = _page(crm, etn="incident", id=demo_caller("ada").latest_case_id or "")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # falls back to 'none': no script at all
    assert "style-src 'self'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert 'href="/_emulator/static/emulator.css"' in response.text
    assert "style=" not in response.text
    css = httpx.get(f"{crm.base_url}/_emulator/static/emulator.css")
    assert css.status_code == 200
    assert "text/css" in css.headers["content-type"]


def test_new_case_form_is_prefilled_from_extraqs(crm: RunningEmulator) -> None:
    extraqs = urlencode(
        {
            "customerid": "{" + ADA_ID + "}",
            "customeridname": "Ada Lovelace",
            "customeridtype": "contact",
            "caseorigincode": "1",
        }
    )
    response = _page(crm, etn="incident", extraqs=extraqs)
    assert response.status_code == 200
    html = response.text
    assert "<h1>New Case</h1>" in html
    assert 'id="customeridname" name="customeridname" value="Ada Lovelace"' in html
    assert f'id="customerid" name="customerid" value="{ADA_ID}"' in html
    assert 'id="customeridtype" name="customeridtype" value="contact"' in html
    assert '<output id="caseorigincode">Phone</output>' in html


def test_new_case_form_escapes_a_hostile_name(crm: RunningEmulator) -> None:
    extraqs = urlencode(
        {
            "customerid": HOSTILE_ID,
            "customeridname": '"><script>alert(1)</script>',
            "customeridtype": "contact",
        }
    )
    html = _page(crm, etn="incident", extraqs=extraqs).text
    assert "<script>" not in html
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html


def test_saving_the_new_case_form_creates_the_case(crm: RunningEmulator, api: httpx.Client) -> None:
    grace = demo_caller("grace")
    response = httpx.post(
        f"{crm.base_url}/main.aspx/new-case",
        data={
            "title": "Called about fibre",
            "customerid": grace.customer_id or "",
            "customeridtype": "contact",
            "caseorigincode": "1",
        },
    )
    assert response.status_code == 303
    case_page = httpx.get(crm.base_url + response.headers["location"])
    assert "Called about fibre" in case_page.text
    rows = api.get("incidents", params={"$filter": "title eq 'Called about fibre'"}).json()["value"]
    assert rows[0]["_customerid_value"] == grace.customer_id
    assert api.delete(f"incidents({rows[0]['incidentid']})").status_code == 204
    refused = httpx.post(
        f"{crm.base_url}/main.aspx/new-case", data={"title": "", "customerid": "x"}
    )
    assert refused.status_code == 400


@pytest.mark.parametrize(
    "params",
    [
        {"etn": "incident", "id": "e0000000-0000-4000-8000-0000000000ff"},
        {"etn": "incident", "id": "not-a-guid"},
        {"etn": "nosuchtable", "id": ADA_ID},
        {"etn": "contact"},
        {"etn": "incident", "id": ADA_ID, "pagetype": "entitylist"},
    ],
)
def test_unknown_records_get_a_404_page(crm: RunningEmulator, params: dict[str, str]) -> None:
    response = _page(crm, **params)
    assert response.status_code == 404
    assert "Record Is Unavailable" in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("extraqs", "status"),
    [
        ("caseorigincode=%C2%B2", 200),  # a unicode superscript digit
        ("&".join(f"f{i}=x" for i in range(80)), 404),  # over 50 fields: not a prefill
        ("customeridtype=<b>&customerid=%00", 200),
        ("%%%", 200),
    ],
)
def test_hostile_extraqs_never_500(crm: RunningEmulator, extraqs: str, status: int) -> None:
    response = _page(crm, etn="incident", extraqs=extraqs)
    assert response.status_code == status
    title = "New Case" if status == 200 else "Record not found"
    assert f"<title>{title} - dipflow CRM emulator</title>" in response.text
    assert "<b>" not in response.text


def test_hostile_new_case_posts_never_500(crm: RunningEmulator, api: httpx.Client) -> None:
    url = f"{crm.base_url}/main.aspx/new-case"
    broken = httpx.post(
        url, content=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert broken.status_code == 400
    odd = httpx.post(
        url,
        data={
            "title": "odd origin",
            "customerid": ADA_ID,
            "customeridtype": "contact",
            "caseorigincode": "²",
        },
    )
    assert odd.status_code == 303
    (case,) = api.get("incidents", params={"$filter": "title eq 'odd origin'"}).json()["value"]
    assert case["caseorigincode"] is None
    assert api.delete(f"incidents({case['incidentid']})").status_code == 204
