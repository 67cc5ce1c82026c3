"""Expression filters and tests, Pebble-compatible and dipflow's own. Layer 1 (flow).

Webex Contact Center expressions are Pebble templates (pebbletemplates.io), so
the filters a Webex flow uses must behave as Pebble's do, not as Jinja2's
built-ins of the same name:

- `default(x)` replaces null *and empty* values (empty string, list, map), not
  only undefined ones; `0` and `false` are kept.
- `replace({"+": ""})` takes a mapping of literal replacements (Jinja's
  `replace(old, new[, count])` form is accepted too).
- `capitalize` and `title` upper-case first letters and leave the rest alone
  (Jinja's lower-case the rest).
- `slice(from, to)` cuts a string or list (Jinja's `slice` splits into columns).
- `urlencode` encodes like Java's `URLEncoder` (space -> `+`).
- `abbreviate(n)` shortens to at most `n` characters, the `...` included.
- `split(delim[, limit])` splits on a *literal* delimiter (Pebble uses a Java
  regex; a literal is what flows mean in practice and cannot backtrack).

Null (Python None) counts as the empty string for the string filters.
Every filter raises `ValueError`/`TypeError` on nonsense, which the expression
layer reports as `ExpressionError`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sized
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote_plus
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from jinja2 import Undefined

from dipflow.flow import javadate


def to_text(value: Any) -> str:
    """How a value prints in a template, the Pebble way (see `expressions`)."""
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple):
        # Pebble would print Java's toString ("{a=1}"); JSON is what an HTTP
        # body or a log reader expects, so structured values print as JSON.
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=to_text)
    return str(value)


def is_empty(value: Any) -> bool:
    """Pebble's `empty` test: null, blank text, or an empty collection or map."""
    if value is None or isinstance(value, Undefined):
        return True
    if isinstance(value, str):
        return value.strip() == ""  # Pebble's EmptyTest trims strings
    if isinstance(value, Sized):
        return len(value) == 0
    return False


# --- Pebble string filters ------------------------------------------------------------


def default(value: Any, fallback: Any = "") -> Any:
    return fallback if is_empty(value) else value


def replace(value: Any, old: Any, new: Any = None, count: int | None = None) -> str:
    text = to_text(value)
    if isinstance(old, Mapping):
        for search, replacement in old.items():
            text = text.replace(to_text(search), to_text(replacement))
        return text
    if new is None:
        raise TypeError("replace needs a mapping, or the text to find and its replacement")
    return text.replace(to_text(old), to_text(new), -1 if count is None else count)


def lower(value: Any) -> str:
    return to_text(value).lower()


def upper(value: Any) -> str:
    return to_text(value).upper()


def trim(value: Any) -> str:
    return to_text(value).strip()


def capitalize(value: Any) -> str:
    text = to_text(value)
    start = len(text) - len(text.lstrip())  # Pebble skips leading whitespace
    return text[:start] + text[start : start + 1].upper() + text[start + 1 :]


_WORD_START = re.compile(r"(^|\s)(\S)")


def title(value: Any) -> str:
    return _WORD_START.sub(lambda m: m.group(1) + m.group(2).upper(), to_text(value))


def abbreviate(value: Any, length: int) -> str:
    text = to_text(value)
    width = int(length)
    if len(text) <= width:
        return text
    if width < 4:
        # Pebble (Commons Lang) needs room for the ellipsis; shorter widths just cut.
        return text[: max(width, 0)]
    return text[: width - 3] + "..."


def urlencode(value: Any) -> str:
    if isinstance(value, Mapping):
        return "&".join(
            f"{quote_plus(to_text(k))}={quote_plus(to_text(v))}" for k, v in value.items()
        )
    return quote_plus(to_text(value))


def split(value: Any, delimiter: str, limit: int | None = None) -> list[str]:
    text = to_text(value)
    if delimiter == "":
        raise ValueError("split needs a non-empty delimiter")
    if limit is not None and int(limit) > 0:
        return text.split(delimiter, int(limit) - 1)
    parts = text.split(delimiter)
    while parts and parts[-1] == "":  # Java's String.split drops trailing empties
        parts.pop()
    return parts


# --- Pebble collection filters ---------------------------------------------------------


def length(value: Any) -> int:
    if value is None or isinstance(value, Undefined):
        return 0
    if isinstance(value, Sized):
        return len(value)
    return 0


def first(value: Any) -> Any:
    if value is None or isinstance(value, Undefined):
        return None
    if isinstance(value, str):
        return value[:1]
    if isinstance(value, Mapping):
        return next(iter(value.values()), None)
    if isinstance(value, Iterable):
        return next(iter(value), None)
    raise TypeError(f"first needs a string or a list, not a {type(value).__name__}")


def last(value: Any) -> Any:
    if value is None or isinstance(value, Undefined):
        return None
    if isinstance(value, str):
        return value[-1:]
    if isinstance(value, Mapping):
        values = list(value.values())
        return values[-1] if values else None
    if isinstance(value, Iterable):
        items = list(value)
        return items[-1] if items else None
    raise TypeError(f"last needs a string or a list, not a {type(value).__name__}")


def join(value: Any, separator: str = "") -> str:
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, str):
        return value
    if not isinstance(value, Iterable):
        raise TypeError(f"join needs a list, not a {type(value).__name__}")
    return to_text(separator).join(to_text(item) for item in value)


def slice_(value: Any, start: int = 0, end: int | None = None) -> Any:
    """Pebble `slice(fromIndex, toIndex)`; indexes out of range are clamped, not errors."""
    if value is None or isinstance(value, Undefined):
        return None
    if isinstance(value, str | list | tuple):
        size = len(value)
        begin = min(max(int(start), 0), size)
        stop = size if end is None else min(max(int(end), begin), size)
        return value[begin:stop]
    raise TypeError(f"slice needs a string or a list, not a {type(value).__name__}")


def rsort(value: Iterable[Any]) -> list[Any]:
    return sorted(value, reverse=True)


# --- numbers, dates, encodings ---------------------------------------------------------


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("numberformat needs a number, not a boolean")
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError(f"numberformat needs a number, got {to_text(value)[:40]!r}") from None
    if not number.is_finite():
        raise ValueError("numberformat needs a finite number")
    return number


_PATTERN_CHARS = re.compile(r"[#0,.]+")


def numberformat(value: Any, pattern: str = "#,##0.###") -> str:
    """Java `DecimalFormat` subset: `#` optional digit, `0` digit, `,` grouping, `.`.

    Rounds half-even as DecimalFormat does; text around the pattern (`$#.00`,
    `#.# %`) is kept literally (no percent scaling).
    """
    number = _decimal(value)
    match = _PATTERN_CHARS.search(pattern)
    if match is None:
        raise ValueError(f"numberformat pattern {pattern!r} has no digits")
    prefix, body, suffix = pattern[: match.start()], match.group(), pattern[match.end() :]
    integer_part, _, fraction_part = body.partition(".")
    min_fraction = fraction_part.count("0")
    max_fraction = min_fraction + fraction_part.count("#")
    min_integer = integer_part.count("0")
    grouping = "," in integer_part
    if max_fraction > 30 or min_integer > 30:
        raise ValueError("numberformat pattern asks for too many digits")
    rounded = number.quantize(Decimal(1).scaleb(-max_fraction), rounding=ROUND_HALF_EVEN)
    sign = "-" if rounded < 0 else ""
    digits = f"{abs(rounded):f}"
    whole, _, fraction = digits.partition(".")
    fraction = fraction.rstrip("0")
    fraction = fraction + "0" * (min_fraction - len(fraction))
    whole = whole.lstrip("0").rjust(min_integer, "0")
    if grouping:
        whole = f"{int(whole or '0'):,}" if whole else ""
        if min_integer == 0 and whole == "0":
            whole = ""
    if not whole and not fraction:
        whole = "0"
    text = whole + ("." + fraction if fraction else "")
    return f"{prefix}{sign}{text}{suffix}"


class JavaDateTime(datetime):
    """A moment that prints as Java's `ZonedDateTime` does (`2025-02-06T21:09:02.712Z[UTC]`),
    which is what Webex's `{{ now() }}` shows."""

    @classmethod
    def from_unix(cls, seconds: float) -> JavaDateTime:
        moment = datetime.fromtimestamp(seconds, UTC)
        return cls(
            moment.year,
            moment.month,
            moment.day,
            moment.hour,
            moment.minute,
            moment.second,
            moment.microsecond // 1000 * 1000,
            tzinfo=UTC,
        )

    def __str__(self) -> str:
        millis = self.microsecond // 1000
        return f"{self:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z[UTC]"


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _moment(value: Any, existing_format: str | None, zone: str | None) -> datetime:
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.endswith("[UTC]"):
        text = text[: -len("[UTC]")]  # how `now()` prints, read back
    moment = javadate.coerce_datetime(text, existing_format)
    tz = _zone(zone)
    if tz is not None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(tz)
    return moment


def date(
    value: Any,
    format: str | None = None,
    existingFormat: str | None = None,
    timeZone: str | None = None,
) -> str:
    """Pebble's `date`; `timeZone` (an IANA name, as Webex takes it) converts first."""
    if value is None or isinstance(value, Undefined) or value == "":
        return ""
    moment = _moment(value, existingFormat, timeZone)
    if format is None:
        return moment.isoformat()
    return javadate.format_java(moment, format)


def epoch(
    value: Any,
    inMillis: bool = False,
    format: str | None = None,
    timeZone: str | None = None,
) -> int:
    """Webex's `epoch`: seconds (or milliseconds, `inMillis=true`) since 1970 of a moment
    (`now()`, a datetime, ISO 8601 text or text in `format`). A moment without a zone is
    read in `timeZone`, else in UTC."""
    if value is None or isinstance(value, Undefined) or value == "":
        raise ValueError("epoch: no date to convert")
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.endswith("[UTC]"):
        text = text[: -len("[UTC]")]
    moment = javadate.coerce_datetime(text, format)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(timeZone) or UTC)
    seconds = moment.timestamp()
    return round(seconds * 1000) if inMillis else int(seconds // 1)


def json_encode(value: Any) -> str:
    def fallback(item: Any) -> Any:
        if isinstance(item, datetime):
            return item.isoformat()
        if isinstance(item, Undefined):
            return None
        return str(item)

    return json.dumps(value, ensure_ascii=False, default=fallback)


def base64encode(value: Any) -> str:
    return base64.b64encode(to_text(value).encode("utf-8")).decode("ascii")


def base64decode(value: Any) -> str:
    try:
        return base64.b64decode(to_text(value), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("base64decode: the text is not valid base64 of UTF-8") from exc


def sha256(value: Any) -> str:
    return hashlib.sha256(to_text(value).encode("utf-8")).hexdigest()


# --- domain filters --------------------------------------------------------------------


def e164(value: Any, region: str = "US") -> str:
    """The number in E.164 (`+14155550123`), or "" when it is not a valid number."""
    text = to_text(value).strip()
    if not text or len(text) > 64:
        return ""
    try:
        number = phonenumbers.parse(text, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def odata_quote(value: Any) -> str:
    """An OData string literal: `O'Brien` -> `'O''Brien'` (OData ABNF, SQUOTE-in-string)."""
    return "'" + to_text(value).replace("'", "''") + "'"


# Characters that mean markup to some TTS input format: SSML/XML (< > & "),
# espeak's and SAPI's bracket/brace commands, backslash escapes, backticks.
_TTS_MARKUP = str.maketrans(dict.fromkeys('<>"{}[]\\`|^~', " "))
_SPACES = re.compile(r"\s+")


def tts_escape(value: Any) -> str:
    """Plain, readable text that no TTS engine will read as markup (caller or CRM data)."""
    text = unicodedata.normalize("NFC", to_text(value))
    cleaned = "".join(
        " " if unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"} else char
        for char in text
    )
    cleaned = cleaned.replace("&", " and ").translate(_TTS_MARKUP)
    return _SPACES.sub(" ", cleaned).strip()


def ssml_escape(value: Any) -> str:
    """XML-escaped text for an SSML document (& < > " ')."""
    return xml_escape(to_text(value), {'"': "&quot;", "'": "&apos;"})


FILTERS: dict[str, Callable[..., Any]] = {
    "epoch": epoch,
    "default": default,
    "replace": replace,
    "lower": lower,
    "upper": upper,
    "trim": trim,
    "capitalize": capitalize,
    "title": title,
    "abbreviate": abbreviate,
    "urlencode": urlencode,
    "split": split,
    "length": length,
    "first": first,
    "last": last,
    "join": join,
    "slice": slice_,
    "rsort": rsort,
    "numberformat": numberformat,
    "date": date,
    "json_encode": json_encode,
    "tojson": json_encode,
    "base64encode": base64encode,
    "base64decode": base64decode,
    "sha256": sha256,
    "e164": e164,
    "odata_quote": odata_quote,
    "tts_escape": tts_escape,
    "ssml_escape": ssml_escape,
}
"""Filter name -> function; they replace Jinja2's built-ins of the same name."""


def _is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_null(value: Any) -> bool:
    return value is None or isinstance(value, Undefined)


TESTS: dict[str, Callable[..., bool]] = {
    "null": _is_null,
    "empty": is_empty,
    "map": _is_map,
}
"""Pebble's tests that Jinja2 lacks (`even`, `odd`, `iterable` are built in)."""
