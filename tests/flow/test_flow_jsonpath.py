"""JSONPath extraction in both the RFC 9535 style and Webex's root-less style."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dipflow.flow.jsonpath import JsonPathError, compile_path, extract, normalize

CONTACTS: dict[str, Any] = {
    "@odata.context": "https://org.crm.dynamics.com/api/data/v9.2/$metadata#contacts",
    "value": [
        {"contactid": "c-1", "fullname": "Ada Lovelace", "telephone1": None},
        {"contactid": "c-2", "fullname": "Alan Turing"},
    ],
}


@pytest.mark.parametrize(
    "path", ["$.value[0].fullname", "value[0].fullname", "  value[0].fullname  "]
)
def test_both_styles_select_the_same_value(path: str) -> None:
    assert extract(path, CONTACTS) == "Ada Lovelace"


def test_first_match_of_a_multi_match_path() -> None:
    assert extract("$.value[*].fullname", CONTACTS) == "Ada Lovelace"
    assert extract("value[*].contactid", CONTACTS) == "c-1"
    assert compile_path("$..contactid").find_all(CONTACTS) == ["c-1", "c-2"]


def test_nothing_matches_gives_none() -> None:
    assert extract("value[5].fullname", CONTACTS) is None
    assert extract("$.value[0].missing", CONTACTS) is None
    assert extract("value[0].fullname", {"value": []}) is None
    assert extract("value[0].fullname", None) is None
    assert extract("value[0].fullname", "not json") is None


def test_null_value_is_none() -> None:
    assert extract("value[0].telephone1", CONTACTS) is None


def test_bracket_and_filter_forms() -> None:
    assert extract("$['@odata.context']", CONTACTS).endswith("#contacts")
    assert extract("['@odata.context']", CONTACTS).endswith("#contacts")
    assert extract("$.value[?@.contactid == 'c-2'].fullname", CONTACTS) == "Alan Turing"


def test_normalize() -> None:
    assert normalize("value[0].x") == "$.value[0].x"
    assert normalize("[0]") == "$[0]"
    assert normalize("$.a") == "$.a"


@pytest.mark.parametrize("path", ["value[0", "$.[", "", "   ", "value[0]..", "$.value[?@.x ==]"])
def test_invalid_paths_raise_json_path_error(path: str) -> None:
    with pytest.raises(JsonPathError) as caught:
        compile_path(path)
    assert caught.value.path == path
    assert "\n" not in caught.value.message


def test_compiled_paths_are_cached() -> None:
    assert compile_path("value[0].title") is compile_path("value[0].title")


@settings(max_examples=300, deadline=None)
@given(path=st.text(max_size=200))
def test_hostile_paths_raise_only_json_path_error(path: str) -> None:
    try:
        compiled = compile_path(path)
    except JsonPathError:
        return
    compiled.extract(CONTACTS)
