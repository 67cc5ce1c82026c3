"""Java `SimpleDateFormat` patterns, as Pebble's `date` filter takes them. Layer 1 (flow).

Webex flows are Pebble templates, and Pebble's `date(format, existingFormat=...)`
formats with `java.text.SimpleDateFormat` (pebbletemplates.io, filter `date`).
This module renders and parses the common pattern letters (English locale):

    y year   M month   d day   E weekday   H/k hour 0-23/1-24   h/K hour 1-12/0-11
    m minute   s second   S millisecond   a AM/PM   Z +0100   X +01 / +01:00   z UTC

Text between single quotes is literal, `''` is a quote. Unknown letters raise
`ValueError` (the expression layer turns it into an `ExpressionError`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

Token = tuple[str, str]
"""("letter", run) for a pattern field, ("text", literal) for literal text."""

_LETTERS = "yMdEHkhKmsSaZXz"


@lru_cache(maxsize=256)
def tokenize(pattern: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            if pattern.startswith("''", i):
                tokens.append(("text", "'"))
                i += 2
                continue
            end = pattern.find("'", i + 1)
            if end < 0:
                raise ValueError(f"unterminated quote in date pattern {pattern!r}")
            tokens.append(("text", pattern[i + 1 : end]))
            i = end + 1
        elif char.isascii() and char.isalpha():
            if char not in _LETTERS:
                raise ValueError(f"unsupported date pattern letter {char!r} in {pattern!r}")
            j = i
            while j < len(pattern) and pattern[j] == char:
                j += 1
            tokens.append(("letter", pattern[i:j]))
            i = j
        else:
            tokens.append(("text", char))
            i += 1
    return tuple(tokens)


def _offset(moment: datetime, colon: bool) -> str:
    delta = moment.utcoffset()
    if delta is None:
        return "Z" if colon else "+0000"
    minutes = int(delta.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}" if colon else f"{sign}{hours:02d}{mins:02d}"


def _field(run: str, moment: datetime) -> str:
    letter, width = run[0], len(run)
    if letter == "y":
        return f"{moment.year % 100:02d}" if width == 2 else f"{moment.year:0{width}d}"
    if letter == "M":
        if width >= 4:
            return _MONTHS[moment.month - 1]
        if width == 3:
            return _MONTHS[moment.month - 1][:3]
        return f"{moment.month:0{width}d}"
    if letter == "E":
        name = _DAYS[moment.weekday()]
        return name if width >= 4 else name[:3]
    if letter == "a":
        return "AM" if moment.hour < 12 else "PM"
    if letter == "Z":
        return _offset(moment, colon=False)
    if letter == "X":
        delta = moment.utcoffset()
        if delta is None or not delta:
            return "Z"  # ISO 8601 zero offset (SimpleDateFormat `X`)
        text = _offset(moment, colon=width >= 3)
        return text[:3] if width == 1 else text
    if letter == "z":
        return moment.tzname() or "UTC"
    number = {
        "d": moment.day,
        "H": moment.hour,
        "k": moment.hour or 24,
        "h": (moment.hour % 12) or 12,
        "K": moment.hour % 12,
        "m": moment.minute,
        "s": moment.second,
        "S": moment.microsecond // 1000,
    }[letter]
    return f"{number:0{width}d}"


def format_java(moment: datetime | date, pattern: str) -> str:
    """`moment` formatted like `new SimpleDateFormat(pattern).format(moment)`."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    parts: list[str] = []
    for kind, value in tokenize(pattern):
        parts.append(value if kind == "text" else _field(value, moment))
    return "".join(parts)


_STRPTIME = {
    "y": "%Y",
    "M": "%m",
    "d": "%d",
    "H": "%H",
    "k": "%H",
    "h": "%I",
    "K": "%I",
    "m": "%M",
    "s": "%S",
    "a": "%p",
    "Z": "%z",
    "X": "%z",
}


def parse_java(text: str, pattern: str) -> datetime:
    """Parse `text` with a SimpleDateFormat `pattern` (the `existingFormat` of Pebble)."""
    parts: list[str] = []
    tokens = tokenize(pattern)
    # SimpleDateFormat parses leniently: `hh` without an `a` field takes 15 as 15 o'clock
    # (Webex flows write `existingFormat="hh:mm:ss"` for 24-hour times).
    has_ampm = any(kind == "letter" and value[0] == "a" for kind, value in tokens)
    for kind, value in tokens:
        if kind == "text":
            parts.append(value.replace("%", "%%"))
            continue
        letter, width = value[0], len(value)
        if letter in "hK" and not has_ampm:
            parts.append("%H")
        elif letter == "y" and width == 2:
            parts.append("%y")
        elif letter == "M" and width >= 3:
            parts.append("%B" if width >= 4 else "%b")
        elif letter == "E":
            parts.append("%A" if width >= 4 else "%a")
        elif letter == "S":
            parts.append("%f")
        elif letter in _STRPTIME:
            parts.append(_STRPTIME[letter])
        else:
            raise ValueError(f"cannot parse dates with pattern letter {letter!r}")
    return datetime.strptime(text, "".join(parts))


_ISO_Z = re.compile(r"Z$")


def coerce_datetime(value: object, existing_format: str | None) -> datetime:
    """A datetime from what flows hold: datetime, date, epoch milliseconds, or text."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, bool):
        raise ValueError("a boolean is not a date")
    if isinstance(value, int | float):
        # Pebble treats a number as milliseconds since the epoch (java.util.Date(long)).
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        if existing_format:
            return parse_java(value, existing_format)
        return datetime.fromisoformat(_ISO_Z.sub("+00:00", value.strip()))
    raise ValueError(f"cannot read a date from a {type(value).__name__}")
