"""Say-as: numbers read the way a caller expects, expanded to text before TTS. Layer 1 (flow).

SSML's `<say-as interpret-as="digits">` tells a TTS engine how to read a value; espeak-ng
reads plain text (caller data must never become markup), so dipflow expands the value
into words and spaced digits that any engine reads right, in the prompt's language:

| kind | value | en-US | de-DE |
|---|---|---|---|
| `digits` | `123456` | `1 2 3 4 5 6` | same |
| `telephone` | `+14155550123` | `plus 1, 4 1 5, 5 5 5, 0 1 2 3` | `plus 1, ...` |
| `date` | `2026-12-24` | `December 24, 2026` | `24. Dezember 2026` |
| `time` | `19:05` | `7:05 PM` | `19 Uhr 5` |
| `currency` | `12.50` (or `12.50 EUR`, `€12.50`) | `12 dollars and 50 cents` | `12 Euro 50` |

Numbers stay numerals: the engine reads them in its own language. Month names and
currency words are built in for English, German, French, Spanish, Italian, Dutch and
Portuguese; in another language a date keeps its numerals (`24.12.2026`) and an amount
its ISO code (`12.50 EUR`). A value that does not read as its kind is returned as
written, so a prompt never fails because a CRM field holds something unexpected.

Pure functions (no clock, no I/O): the engine calls `expand` on rendered prompt text,
and templates use the `say_as` filter (`{{ Balance | say_as("currency") }}`), which
reads the prompt's language from the render context (`LANGUAGE_KEY`).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import phonenumbers
from jinja2 import pass_context
from jinja2.runtime import Context

LANGUAGE_KEY = "__dipflow_prompt_language__"
"""Render-context key of the language of the prompt being rendered."""
DEFAULT_LANGUAGE = "en-US"


class SayAs(StrEnum):
    DIGITS = "digits"
    TELEPHONE = "telephone"
    DATE = "date"
    TIME = "time"
    CURRENCY = "currency"


_MONTHS: dict[str, tuple[str, ...]] = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
           "September", "Oktober", "November", "Dezember"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"),
    "it": ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
           "settembre", "ottobre", "novembre", "dicembre"),
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
           "september", "oktober", "november", "december"),
    "pt": ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto",
           "setembro", "outubro", "novembro", "dezembro"),
}  # fmt: skip

_PLUS = {"en": "plus", "de": "plus", "fr": "plus", "es": "más", "it": "più", "nl": "plus",
         "pt": "mais"}  # fmt: skip

# (major singular, major plural, minor singular, minor plural) per language and currency.
_CURRENCY_WORDS: dict[str, dict[str, tuple[str, str, str, str]]] = {
    "en": {
        "USD": ("dollar", "dollars", "cent", "cents"),
        "CAD": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
        "AUD": ("Australian dollar", "Australian dollars", "cent", "cents"),
        "EUR": ("euro", "euros", "cent", "cents"),
        "GBP": ("pound", "pounds", "penny", "pence"),
        "CHF": ("Swiss franc", "Swiss francs", "centime", "centimes"),
    },
    "de": {
        "EUR": ("Euro", "Euro", "Cent", "Cent"),
        "CHF": ("Franken", "Franken", "Rappen", "Rappen"),
        "USD": ("Dollar", "Dollar", "Cent", "Cent"),
        "GBP": ("Pfund", "Pfund", "Penny", "Pence"),
    },
    "fr": {
        "EUR": ("euro", "euros", "centime", "centimes"),
        "CHF": ("franc suisse", "francs suisses", "centime", "centimes"),
        "CAD": ("dollar canadien", "dollars canadiens", "cent", "cents"),
        "USD": ("dollar", "dollars", "cent", "cents"),
    },
    "es": {
        "EUR": ("euro", "euros", "céntimo", "céntimos"),
        "USD": ("dólar", "dólares", "centavo", "centavos"),
        "MXN": ("peso", "pesos", "centavo", "centavos"),
    },
    "it": {"EUR": ("euro", "euro", "centesimo", "centesimi")},
    "nl": {"EUR": ("euro", "euro", "cent", "cent")},
    "pt": {
        "EUR": ("euro", "euros", "cêntimo", "cêntimos"),
        "BRL": ("real", "reais", "centavo", "centavos"),
    },
}
_AND = {"en": "and", "de": "", "fr": "", "es": "con", "it": "e", "nl": "en", "pt": "e"}
_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "R$": "BRL"}
_REGION_CURRENCY = {
    "US": "USD", "CA": "CAD", "AU": "AUD", "GB": "GBP", "CH": "CHF", "MX": "MXN", "BR": "BRL",
}  # fmt: skip
_LANGUAGE_CURRENCY = {
    "en": "USD", "de": "EUR", "fr": "EUR", "es": "EUR", "it": "EUR", "nl": "EUR", "pt": "EUR",
}  # fmt: skip


def _split(language: str) -> tuple[str, str]:
    parts = language.replace("_", "-").split("-")
    primary = parts[0].lower()
    region = next((p.upper() for p in parts[1:] if len(p) == 2 and p.isalpha()), "")
    return primary, region


def expand(kind: SayAs | str, value: Any, language: str = DEFAULT_LANGUAGE) -> str:
    """`value` written out for speech in `language`; the value as text when it does not fit."""
    text = "" if value is None else str(value).strip()
    if not text:
        return ""
    match SayAs(kind):
        case SayAs.DIGITS:
            return _digits(text)
        case SayAs.TELEPHONE:
            return _telephone(text, language)
        case SayAs.DATE:
            return _date(text, language)
        case SayAs.TIME:
            return _time(text, language)
        case SayAs.CURRENCY:
            return _currency(text, language)


def _digits(text: str) -> str:
    """Every digit and letter on its own; other characters (`-`, spaces) mark groups."""
    groups = [" ".join(group) for group in re.findall(r"[0-9A-Za-z]+", text)]
    return ", ".join(groups) if groups else text


def _telephone(text: str, language: str) -> str:
    primary, region = _split(language)
    try:
        number = phonenumbers.parse(text, region or "US")
    except phonenumbers.NumberParseException:
        return _digits(text)
    if not phonenumbers.is_possible_number(number):
        return _digits(text)
    international = text.lstrip().startswith(("+", "00"))
    style = (
        phonenumbers.PhoneNumberFormat.INTERNATIONAL
        if international
        else phonenumbers.PhoneNumberFormat.NATIONAL
    )
    formatted = phonenumbers.format_number(number, style)
    groups = [" ".join(group) for group in re.findall(r"[0-9]+", formatted)]
    spoken = ", ".join(groups)
    if international:
        spoken = f"{_PLUS.get(primary, 'plus')} {spoken}"
    return spoken


def _parse_date(text: str) -> date | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    match = re.fullmatch(r"(\d{1,2})[./](\d{1,2})[./](\d{4})", text)
    if match is not None:  # day first, as written everywhere but the US
        day, month, year = (int(g) for g in match.groups())
        try:
            return date(year, month, day)
        except ValueError:
            return None
    return None


def _date(text: str, language: str) -> str:
    parsed = _parse_date(text)
    if parsed is None:
        return text
    primary, region = _split(language)
    months = _MONTHS.get(primary)
    day, year = parsed.day, parsed.year
    if months is None:
        return f"{day:02d}.{parsed.month:02d}.{year}"
    month = months[parsed.month - 1]
    match primary:
        case "en":
            if region == "US" or not region:
                return f"{month} {day}, {year}"
            return f"{day} {month} {year}"
        case "de":
            return f"{day}. {month} {year}"
        case "es" | "pt":
            return f"{day} de {month} de {year}"
        case _:
            return f"{day} {month} {year}"


def _parse_time(text: str) -> time | None:
    match = re.fullmatch(r"(\d{1,2})[:.h](\d{2})(?::(\d{2}))?", text)
    if match is not None:
        try:
            return time(int(match.group(1)), int(match.group(2)))
        except ValueError:
            return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).time()
    except ValueError:
        return None


_HOURS_WORD = {"de": "Uhr", "fr": "heures", "es": "horas", "it": "e", "nl": "uur", "pt": "horas"}


def _time(text: str, language: str) -> str:
    parsed = _parse_time(text)
    if parsed is None:
        return text
    primary, _ = _split(language)
    hour, minute = parsed.hour, parsed.minute
    if primary == "en":
        suffix = "AM" if hour < 12 else "PM"
        twelve = hour % 12 or 12
        return f"{twelve} {suffix}" if minute == 0 else f"{twelve}:{minute:02d} {suffix}"
    word = _HOURS_WORD.get(primary)
    if word is None:
        return f"{hour}:{minute:02d}"
    if primary == "it":
        return f"{hour}" if minute == 0 else f"{hour} e {minute}"
    return f"{hour} {word}" if minute == 0 else f"{hour} {word} {minute}"


def _amount(text: str) -> tuple[Decimal, str | None] | None:
    code: str | None = None
    rest = text
    for symbol in sorted(_SYMBOLS, key=len, reverse=True):
        if symbol in rest:
            code = _SYMBOLS[symbol]
            rest = rest.replace(symbol, " ")
            break
    iso = re.search(r"\b([A-Z]{3})\b", rest)
    if iso is not None:
        code = iso.group(1)
        rest = rest.replace(iso.group(1), " ")
    number = rest.strip().replace(" ", "").replace("\u00a0", "")
    if not re.fullmatch(r"-?[\d.,]+", number):
        return None
    last_dot, last_comma = number.rfind("."), number.rfind(",")
    decimal_mark = "." if last_dot > last_comma else ","
    if decimal_mark == "," and not re.search(r",\d{1,2}$", number):
        decimal_mark = "."  # "1,234": a thousands separator
    thousands = "," if decimal_mark == "." else "."
    number = number.replace(thousands, "").replace(decimal_mark, ".")
    try:
        return Decimal(number), code
    except InvalidOperation:
        return None


def _currency(text: str, language: str) -> str:
    parsed = _amount(text)
    if parsed is None:
        return text
    amount, code = parsed
    primary, region = _split(language)
    code = code or _REGION_CURRENCY.get(region) or _LANGUAGE_CURRENCY.get(primary)
    if code is None:
        return text  # no currency named and none usual for the language: as written
    negative = amount < 0
    cents_total = int((abs(amount) * 100).quantize(Decimal(1)))
    major, minor = divmod(cents_total, 100)
    words = _CURRENCY_WORDS.get(primary, {}).get(code)
    if words is None:
        return f"{'-' if negative else ''}{major}.{minor:02d} {code}"
    one, many, minor_one, minor_many = words
    spoken = f"{major} {one if major == 1 else many}"
    if minor:
        joiner = _AND.get(primary, "")
        # German and French say the cents as a bare number: "12 Euro 50".
        minor_words = minor_one if minor == 1 else minor_many
        spoken += f" {joiner} {minor} {minor_words}" if joiner else f" {minor}"
    return f"minus {spoken}" if negative else spoken


@pass_context
def say_as_filter(context: Context, value: Any, kind: str, language: str | None = None) -> str:
    """`{{ Account | say_as("digits") }}`: `expand` in the prompt's language (or `language`)."""
    try:
        which = SayAs(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in SayAs)
        raise ValueError(f"say_as: unknown kind {kind!r}; kinds: {kinds}") from None
    spoken_in = language or context.get(LANGUAGE_KEY) or DEFAULT_LANGUAGE
    return expand(which, value, str(spoken_in))
