"""Every filter and test, through templates as flows use them (Pebble semantics)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from dipflow.flow.expressions import ExpressionError, evaluate, render


def r(template: str, **context: Any) -> str:
    return render(template, context)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ v | replace({"+": ""}) }}', "14155550123"),
        ('{{ v | replace({"+1": "", "555": "-"}) }}', "41-50123"),
        ('{{ v | replace("+", "00") }}', "0014155550123"),
        ('{{ v | replace("5", "x", 2) }}', "+141xx550123"),
    ],
)
def test_replace_mapping_and_jinja_forms(template: str, expected: str) -> None:
    assert r(template, v="+14155550123") == expected


def test_replace_on_null_is_empty() -> None:
    assert r('{{ v | replace({"+": ""}) }}', v=None) == ""
    with pytest.raises(ExpressionError, match="replace needs"):
        r('{{ v | replace("x") }}', v="x")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "dflt"),
        ("", "dflt"),
        ("   ", "dflt"),
        ([], "dflt"),
        ({}, "dflt"),
        (0, "0"),
        (False, "false"),
        ("a", "a"),
    ],
)
def test_default_replaces_null_and_empty_only(value: Any, expected: str) -> None:
    assert r("{{ v | default('dflt') }}", v=value) == expected
    assert r("{{ missing | default('dflt') }}") == "dflt"


def test_case_and_whitespace_filters() -> None:
    assert r("{{ v | lower }}|{{ v | upper }}|{{ w | trim }}", v="MiXed", w="  pad  ") == (
        "mixed|MIXED|pad"
    )
    assert r("{{ n | lower }}{{ n | upper }}{{ n | trim }}", n=None) == ""
    # Pebble keeps the rest of the word as it is (Jinja would lower-case it).
    assert r("{{ v | capitalize }}", v="mcDonald case") == "McDonald case"
    assert r("[{{ v | capitalize }}]", v="  éclair") == "[  Éclair]"
    assert r("{{ v | title }}", v="article tITLE  two") == "Article TITLE  Two"


@pytest.mark.parametrize(
    ("value", "width", "expected"),
    [
        ("this is a long sentence.", 7, "this..."),
        ("short", 7, "short"),
        ("exactly7", 8, "exactly7"),
        ("abcdef", 3, "abc"),
    ],
)
def test_abbreviate_counts_the_ellipsis(value: str, width: int, expected: str) -> None:
    assert r("{{ v | abbreviate(w) }}", v=value, w=width) == expected


def test_length_first_last() -> None:
    assert r("{{ v | length }}|{{ l | length }}|{{ n | length }}", v="abc", l=[1, 2], n=None) == (
        "3|2|0"
    )
    assert r("{{ v | first }}{{ v | last }}", v="abc") == "ac"
    assert r("{{ l | first }}{{ l | last }}", l=[1, 2, 3]) == "13"
    assert r("[{{ l | first }}]", l=[]) == "[]"


def test_join_and_split() -> None:
    assert r("{{ l | join(', ') }}", l=["a", None, True, 3]) == "a, , true, 3"
    assert r("{{ v | split(',') | join('|') }}", v="a,b,,c,,") == "a|b||c"
    assert r("{{ v | split(',', 2) | join('|') }}", v="a,b,c") == "a|b,c"
    assert r("{{ v | split('.') | length }}", v="a.b.c") == "3"  # literal, not a regex


def test_slice_strings_and_lists_with_clamping() -> None:
    assert r("{{ v | slice(2, 5) }}", v="0123456789") == "234"
    assert r("{{ v | slice(7) }}", v="0123456789") == "789"
    assert r("{{ v | slice(5, 500) }}", v="0123456789") == "56789"
    assert r("{{ l | slice(1, 2) }}", l=[1, 2, 3]) == "[2]"


def test_numberformat_like_decimal_format() -> None:
    assert r("{{ v | numberformat('#.##') }}", v=3.141592) == "3.14"
    assert r("{{ v | numberformat('0.00') }}", v=2) == "2.00"
    assert r("{{ v | numberformat('#,##0.00') }}", v="1234567.891") == "1,234,567.89"
    assert r("{{ v | numberformat('$#,##0') }}", v=-1234.5) == "$-1,234"
    assert r("{{ v | numberformat }}", v=1234.56789) == "1,234.568"
    assert r("{{ v | numberformat('0.#') }}", v=0.25) == "0.2"  # half-even
    # DecimalFormat prints no integer digit for "#" patterns: "#.##" gives ".46".
    assert r("{{ v | numberformat('#.##') }}", v=0.456) == ".46"
    with pytest.raises(ExpressionError, match="needs a number"):
        r("{{ v | numberformat('#.##') }}", v="abc")


def test_date_with_java_patterns() -> None:
    moment = datetime(2024, 3, 5, 14, 7, 9, 120000, tzinfo=UTC)
    assert r("{{ d | date('yyyy-MM-dd HH:mm:ss.SSS') }}", d=moment) == "2024-03-05 14:07:09.120"
    assert r("{{ d | date(\"EEEE, MMMM d, yy 'at' h:mm a\") }}", d=moment) == (
        "Tuesday, March 5, 24 at 2:07 PM"
    )
    assert r("{{ d | date('EEE dd MMM Z XXX') }}", d=moment) == "Tue 05 Mar +0000 Z"
    plus_two = moment.astimezone(timezone(timedelta(hours=2)))
    assert r("{{ d | date('HH:mm XXX') }}", d=plus_two) == "16:07 +02:00"


def test_date_parses_strings_and_epoch_millis() -> None:
    assert r("{{ v | date('dd/MM/yyyy') }}", v="2024-03-05T10:00:00Z") == "05/03/2024"
    assert (
        r("{{ v | date('yyyy-MM-dd', existingFormat='MMMM dd, yyyy') }}", v="July 24, 2001")
        == "2001-07-24"
    )
    assert r("{{ v | date('yyyy-MM-dd HH:mm') }}", v=0) == "1970-01-01 00:00"
    assert r("[{{ v | date('yyyy') }}]", v=None) == "[]"
    with pytest.raises(ExpressionError):
        r("{{ v | date('yyyy') }}", v="not a date")
    with pytest.raises(ExpressionError, match="unsupported date pattern letter"):
        r("{{ v | date('yyyy QQ') }}", v=0)


def test_urlencode_like_java() -> None:
    assert r("{{ v | urlencode }}", v="a b&c=d/é") == "a+b%26c%3Dd%2F%C3%A9"
    assert r("{{ m | urlencode }}", m={"q": "x y", "n": 1}) == "q=x+y&n=1"


def test_json_encode_and_tojson_are_plain_json() -> None:
    value = {"name": "O'Brien <x>", "n": None, "ok": True}
    expected = '{"name": "O\'Brien <x>", "n": null, "ok": true}'
    assert r("{{ v | json_encode }}", v=value) == expected
    assert r("{{ v | tojson }}", v=value) == expected


def test_encodings() -> None:
    assert r("{{ 'test' | base64encode }}") == "dGVzdA=="
    assert r("{{ 'dGVzdA==' | base64decode }}") == "test"
    assert r("{{ 'x' | sha256 }}").startswith("2d711642b726b044")
    with pytest.raises(ExpressionError, match="base64"):
        r("{{ '!!' | base64decode }}")


def test_sorting() -> None:
    assert r("{{ l | rsort | join }}", l=[2, 3, 1]) == "321"
    assert r("{{ l | sort | join }}", l=[2, 3, 1]) == "123"


@pytest.mark.parametrize(
    ("value", "region", "expected"),
    [
        ("+14155550123", "US", "+14155550123"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("030 901820", "DE", "+4930901820"),
        ("12", "US", ""),
        ("not a number", "US", ""),
        (None, "US", ""),
    ],
)
def test_e164(value: Any, region: str, expected: str) -> None:
    assert r("{{ v | e164(region=reg) }}", v=value, reg=region) == expected


def test_e164_defaults_to_us() -> None:
    assert r("{{ v | e164 }}", v="415 555 0123") == "+14155550123"


def test_odata_quote_doubles_single_quotes() -> None:
    assert r("{{ v | odata_quote }}", v="O'Brien") == "'O''Brien'"
    assert r("{{ v | odata_quote }}", v="') or 1 eq 1 or ('") == "''') or 1 eq 1 or ('''"
    assert r("{{ v | odata_quote }}", v=None) == "''"


def test_tts_escape_strips_markup_and_controls_but_stays_readable() -> None:
    hostile = 'Smith & Sons <break time="10s"/> [[inpt PHON]] {\\pause} \x07\u202eok\n  end'
    assert r("{{ v | tts_escape }}", v=hostile) == (
        "Smith and Sons break time= 10s / inpt PHON pause ok end"
    )
    assert r("{{ v | tts_escape }}", v="O'Brien, café 42") == "O'Brien, café 42"


def test_ssml_escape() -> None:
    assert r("{{ v | ssml_escape }}", v='<b a="1">Tom & Jerry\'s</b>') == (
        "&lt;b a=&quot;1&quot;&gt;Tom &amp; Jerry&apos;s&lt;/b&gt;"
    )


def test_pebble_tests() -> None:
    assert evaluate("v is null", {"v": None}) is True
    assert evaluate("v is null", {"v": ""}) is False
    assert evaluate("v is empty", {"v": ""}) is True
    assert evaluate("v is empty", {"v": [0]}) is False
    assert evaluate("v is empty", {"v": 0}) is False
    assert evaluate("v is map", {"v": {}}) is True
    assert evaluate("v is map", {"v": []}) is False
    assert evaluate("v is even", {"v": 2}) is True
    assert evaluate("v is odd", {"v": 2}) is False
