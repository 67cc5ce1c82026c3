"""Say-as: the exact text the TTS engine is given for each kind, in each language built in."""

from __future__ import annotations

import pytest

from dipflow.flow.expressions import ExpressionError, render
from dipflow.flow.sayas import LANGUAGE_KEY, expand


@pytest.mark.parametrize(
    ("kind", "value", "language", "spoken"),
    [
        ("digits", "123456", "en-US", "1 2 3 4 5 6"),
        ("digits", "AB-1234", "de-DE", "A B, 1 2 3 4"),
        ("telephone", "+14155550123", "en-US", "plus 1, 4 1 5, 5 5 5, 0 1 2 3"),
        ("telephone", "(415) 555-0123", "en-US", "4 1 5, 5 5 5, 0 1 2 3"),
        ("telephone", "+4930123456", "de-DE", "plus 4 9, 3 0, 1 2 3 4 5 6"),
        ("telephone", "+34912345678", "es-ES", "más 3 4, 9 1 2, 3 4, 5 6, 7 8"),
        ("date", "2026-12-24", "en-US", "December 24, 2026"),
        ("date", "2026-12-24", "en-GB", "24 December 2026"),
        ("date", "2026-12-24T19:00:00+01:00", "de-DE", "24. Dezember 2026"),
        ("date", "24.12.2026", "fr-FR", "24 décembre 2026"),
        ("date", "2026-12-24", "es-MX", "24 de diciembre de 2026"),
        ("date", "2026-12-24", "ja-JP", "24.12.2026"),
        ("time", "19:05", "en-US", "7:05 PM"),
        ("time", "00:00", "en-US", "12 AM"),
        ("time", "19:00", "de-DE", "19 Uhr"),
        ("time", "07:30", "fr-FR", "7 heures 30"),
        ("currency", "12.50", "en-US", "12 dollars and 50 cents"),
        ("currency", "1", "en-US", "1 dollar"),
        ("currency", "1,234.01", "en-GB", "1234 pounds and 1 penny"),
        ("currency", "12,50 EUR", "de-DE", "12 Euro 50"),
        ("currency", "€12,50", "fr-FR", "12 euros 50"),
        ("currency", "12.50", "es-MX", "12 pesos con 50 centavos"),
        ("currency", "-3.00 USD", "en-US", "minus 3 dollars"),
        ("currency", "12.50 JPY", "en-US", "12.50 JPY"),
    ],
)
def test_expansion(kind: str, value: str, language: str, spoken: str) -> None:
    assert expand(kind, value, language) == spoken


@pytest.mark.parametrize(
    ("kind", "value"),
    [("date", "next Tuesday"), ("time", "soon"), ("currency", "a lot"), ("telephone", "n/a")],
)
def test_a_value_that_is_not_its_kind_is_said_as_written(kind: str, value: str) -> None:
    expected = "n, a" if kind == "telephone" else value  # digits and letters, one by one
    assert expand(kind, value, "en-US") == expected


def test_the_filter_reads_the_prompts_language_or_its_argument() -> None:
    assert render("{{ d | say_as('date') }}", {"d": "2026-12-24"}) == "December 24, 2026"
    context = {"d": "2026-12-24", LANGUAGE_KEY: "de-DE"}
    assert render("{{ d | say_as('date') }}", context) == "24. Dezember 2026"
    assert render("{{ d | say_as('date', 'fr-FR') }}", context) == "24 décembre 2026"


def test_the_filter_refuses_an_unknown_kind_with_the_kinds() -> None:
    with pytest.raises(ExpressionError) as caught:
        render("{{ 1 | say_as('money') }}", {})
    assert caught.value.message == (
        "say_as: unknown kind 'money'; kinds: digits, telephone, date, time, currency"
    )
