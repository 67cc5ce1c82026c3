"""Dynamics expression filters: phone variants, OData filters, extraqs encoding."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dipflow.connectors.screenpop import case_record_url, new_case_url
from dipflow.flow.dynamics_filters import (
    FILTERS,
    dynamics_extraqs,
    e164,
    odata_phone_filter,
    odata_quote,
    phone_variants,
)

HOSTILE_ANIS = [
    "",
    "   ",
    "anonymous",
    "Anonymous",
    "+",
    "x" * 200,
    "1" * 200,
    "'",
    "''",
    "4155550123' or '1' eq '1",
    "') or (contactid ne null",
    "+1415555012'3",
    "1 eq 1",
    "$filter=contactid ne null",
    "%27%20or%201%20eq%201",
    "+١٤١٥٥٥٥٠١٢٣",  # Arabic-Indic digits
    "+1415555０123",  # a fullwidth digit
    "sip:+14155550123@evil",
    "\x00+14155550123",
    "null",
    "123",
]


def test_us_number_variants_cover_the_usual_spellings() -> None:
    variants = phone_variants("+14155550123")
    assert variants[0] == "+14155550123"
    for expected in [
        "4155550123",
        "14155550123",
        "(415) 555-0123",
        "415-555-0123",
        "+1 415-555-0123",
        "+1 (415) 555-0123",
        "+1 415 555 0123",
        "415.555.0123",
    ]:
        assert expected in variants
    assert len(variants) == len(set(variants))


def test_webex_style_ani_without_plus_and_national_forms_parse_alike() -> None:
    assert phone_variants("14155550123") == phone_variants("+14155550123")
    assert phone_variants("4155550123") == phone_variants("+14155550123")
    assert phone_variants("(415) 555-0123") == phone_variants("+14155550123")


def test_uk_number_variants() -> None:
    variants = phone_variants("+442079460958")
    assert variants[0] == "+442079460958"
    assert "020 7946 0958" in variants
    assert "+44 20 7946 0958" in variants
    assert "02079460958" in variants
    assert phone_variants("020 7946 0958", region="GB") == variants


@pytest.mark.parametrize("ani", HOSTILE_ANIS)
def test_anything_not_a_phone_number_has_no_variants(ani: str) -> None:
    assert phone_variants(ani) == []
    assert e164(ani) == ""


def test_surrounding_whitespace_and_stray_punctuation_are_tolerated() -> None:
    # The variants are rebuilt from the parsed digits, so the noise never reaches a query.
    assert phone_variants(" +14155550123\n") == phone_variants("+14155550123")
    assert phone_variants("+1 (415) 555-0123)") == phone_variants("+14155550123")


def test_non_strings_are_not_numbers() -> None:
    assert phone_variants(None) == []
    assert phone_variants(["+14155550123"]) == []


def test_odata_quote_doubles_single_quotes() -> None:
    assert odata_quote("O'Brien") == "'O''Brien'"
    assert odata_quote("''") == "''''''"
    assert odata_quote(None) == "''"


def test_phone_filter_is_exact_eq_across_columns() -> None:
    text = odata_phone_filter("+14155550123", columns="telephone1,mobilephone")
    assert text.startswith("(") and text.endswith(")")
    clauses = text[1:-1].split(" or ")
    assert "telephone1 eq '+14155550123'" in clauses
    assert "mobilephone eq '(415) 555-0123'" in clauses
    assert all(re.fullmatch(r"(telephone1|mobilephone) eq '[0-9+() .\-]+'", c) for c in clauses)
    assert "contains" not in text


def test_phone_filter_e164_column_comes_first() -> None:
    text = odata_phone_filter("+14155550123", columns=["telephone1"], e164_column="new_e164")
    assert text.startswith("(new_e164 eq '+14155550123' or telephone1 eq")


@pytest.mark.parametrize("ani", HOSTILE_ANIS)
def test_hostile_ani_gives_a_filter_matching_nothing(ani: str) -> None:
    assert odata_phone_filter(ani) == "contactid eq null"
    assert odata_phone_filter(ani, entity="account") == "accountid eq null"


@pytest.mark.parametrize(
    "columns", ["telephone1;drop", "Telephone1", "telephone1 or 1 eq 1", "", "tel'ephone"]
)
def test_column_names_are_validated(columns: str) -> None:
    with pytest.raises(ValueError, match="column"):
        odata_phone_filter("+14155550123", columns=columns)


def test_e164_column_is_validated() -> None:
    with pytest.raises(ValueError, match="column"):
        odata_phone_filter("+14155550123", e164_column="x eq 1 or y")


_FILTER_GRAMMAR = re.compile(
    r"\((?:[a-z_][a-z0-9_]* eq '[0-9+() .\-]*')(?: or [a-z_][a-z0-9_]* eq '[0-9+() .\-]*')*\)"
    r"|contactid eq null"
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_no_input_escapes_the_filter_grammar(ani: str) -> None:
    assert _FILTER_GRAMMAR.fullmatch(odata_phone_filter(ani))


def test_extraqs_matches_microsofts_documented_example() -> None:
    # "To set name to A=B&C, use extraqs=name%3DA%253DB%2526C" (Microsoft Learn).
    inner = dynamics_extraqs({"name": "A=B&C"})
    assert "extraqs=" + quote(inner, safe="-_.!~*'()") == "extraqs=name%3DA%253DB%2526C"


def test_extraqs_round_trips_special_characters() -> None:
    mapping = {"customeridname": "Zoë O'Brien & Sons = 100% #1", "customeridtype": "contact"}
    inner = dynamics_extraqs(mapping)
    decoded = {k: unquote(v) for k, v in (pair.split("=", 1) for pair in inner.split("&"))}
    assert decoded == mapping


def test_extraqs_refuses_bad_keys_and_skips_none() -> None:
    assert dynamics_extraqs({"title": None, "description": "x"}) == "description=x"
    with pytest.raises(ValueError, match="column"):
        dynamics_extraqs({"a&b": "x"})


def test_filters_registry_names() -> None:
    assert {"phone_variants", "odata_phone_filter", "dynamics_extraqs", "odata_quote"} <= set(
        FILTERS
    )


APP = "8a18ed00-21e1-ed11-a7c6-000d3a8bcaaa"
CONTACT = "b68990a8-e1dc-4350-b266-112c622507f5"


def test_case_record_url() -> None:
    url = case_record_url("https://org.crm.dynamics.com/", APP, CONTACT)
    parts = urlsplit(url)
    assert parts.path == "/main.aspx"
    assert parse_qs(parts.query) == {
        "appid": [APP],
        "pagetype": ["entityrecord"],
        "etn": ["incident"],
        "id": [CONTACT],
    }


def test_new_case_url_prefills_customer_with_double_encoded_name() -> None:
    url = new_case_url("https://org.crm.dynamics.com", APP, CONTACT, "A=B&C")
    assert "extraqs=customerid%3Db68990a8" in url
    assert "customeridname%3DA%253DB%2526C" in url
    extraqs = parse_qs(urlsplit(url).query)["extraqs"][0]
    inner = {k: unquote(v) for k, v in (p.split("=", 1) for p in extraqs.split("&"))}
    assert inner == {"customerid": CONTACT, "customeridname": "A=B&C", "customeridtype": "contact"}


def test_screen_pop_urls_refuse_non_guid_ids() -> None:
    with pytest.raises(ValueError, match="GUID"):
        case_record_url("https://org", APP, "x&id=1")
    with pytest.raises(ValueError, match="contact or account"):
        new_case_url("https://org", APP, CONTACT, "n", customer_type="lead")
