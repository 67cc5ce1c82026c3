"""Expression filters for Dynamics 365 / Dataverse (owned by the connectors area). Layer 1 (flow).

`FILTERS` maps a filter name to a function; `dipflow.flow.expressions` registers
them in the sandbox. Pure functions only (this is layer 1).

The ANI is untrusted: a SIP `From` header or a Twilio parameter can carry
anything. Every function here treats it as data, never as query text:

- `phone_variants` returns only strings rebuilt from the digits `phonenumbers`
  parsed, so nothing the caller typed survives verbatim;
- `odata_phone_filter` quotes every literal (OData ABNF: a `'` inside a string
  literal is written `''`) and, for anything that is not a valid phone number,
  returns a filter that matches no row, so a hostile ANI cannot widen a query;
- `dynamics_extraqs` encodes form parameters the way Microsoft documents for
  `extraqs` ("Set field values using parameters passed to a form",
  https://learn.microsoft.com/power-apps/developer/model-driven-apps/set-field-values-using-parameters-passed-form).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import phonenumbers

MAX_ANI_CHARS = 32
"""Longer than any real phone number with punctuation; longer input is refused unparsed."""

_ANI_SHAPE = re.compile(r"^\+?[0-9(][0-9 ().\-]*$")
_COLUMN = re.compile(r"^[a-z_][a-z0-9_]*$")
_ENTITY = re.compile(r"^[a-z_][a-z0-9_]*$")

# encodeURIComponent leaves exactly these unescaped (ECMA-262, "encodeURIComponent").
_URI_COMPONENT_SAFE = "-_.!~*'()"


def _parse(ani: object, region: str) -> phonenumbers.PhoneNumber | None:
    """The parsed number when `ani` is a valid phone number, else None (never raises)."""
    if not isinstance(ani, str | int):
        return None
    text = str(ani).strip()
    if text.lower().startswith("tel:"):
        text = text[4:]
    if not text or len(text) > MAX_ANI_CHARS or not _ANI_SHAPE.match(text):
        return None
    region_code = region.upper() if isinstance(region, str) and len(region) == 2 else "US"
    # Webex flows strip the "+" (`replace({"+": ""})`), so "14155550123" must still be
    # read as international when the national reading is not a valid number.
    candidates = [text] if text.startswith("+") else [text, "+" + text]
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region_code)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
    return None


def e164(ani: object, region: str = "US") -> str:
    """The E.164 form of `ani` ("+14155550123"), or "" when it is not a valid number."""
    number = _parse(ani, region)
    if number is None:
        return ""
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _groups(formatted: str) -> list[str]:
    return re.findall(r"[0-9]+", formatted)


def phone_variants(ani: object, region: str = "US") -> list[str]:
    """The ways a CRM user is likely to have typed this caller's number.

    E.164 first, then the national and international forms `phonenumbers` formats,
    then the same digit groups joined with the usual separators. [] when `ani` is
    not a valid phone number (empty, "anonymous", a lone "+", 200 characters...).
    """
    if not isinstance(ani, str | int) or not isinstance(region, str):
        return []
    return list(_variants(str(ani), region))


@functools.lru_cache(maxsize=4096)
def _variants(ani: str, region: str) -> tuple[str, ...]:
    # Cached: parsing and formatting costs ~0.2 ms and a call renders the filter more
    # than once (lookup, trace, retries); the function is pure.
    number = _parse(ani, region)
    if number is None:
        return ()
    fmt = phonenumbers.PhoneNumberFormat
    e164_form = str(phonenumbers.format_number(number, fmt.E164))
    national = str(phonenumbers.format_number(number, fmt.NATIONAL))
    international = str(phonenumbers.format_number(number, fmt.INTERNATIONAL))
    cc = str(number.country_code)
    national_groups = _groups(national)
    intl_groups = _groups(international)[1:]  # drop the country code
    national_digits = "".join(national_groups)
    significant = str(phonenumbers.national_significant_number(number))
    out: list[str] = [e164_form, e164_form[1:], significant, national_digits, national]
    for sep in (" ", "-", "."):
        out.append(sep.join(national_groups))
    out.append(international)
    for sep in (" ", "-"):
        out.append(f"+{cc} " + sep.join(intl_groups))
        out.append(f"+{cc}-" + "-".join(intl_groups))
    if national.startswith("("):
        # North American style: "(415) 555-0123" also appears as "+1 (415) 555-0123",
        # "1 (415) 555-0123" and "(415) 555 0123".
        rest = " ".join(intl_groups[1:])
        out.extend(
            [
                f"+{cc} {national}",
                f"{cc} {national}",
                f"({intl_groups[0]}) {rest}",
                f"+{cc} ({intl_groups[0]}) {rest}",
                f"{cc}-" + "-".join(intl_groups),
            ]
        )
    elif national_digits != significant:
        # Trunk prefix countries (UK "020 ...") are often written "+44 (0)20 7946 0958".
        trunk = national_digits[: len(national_digits) - len(significant)]
        out.append(f"+{cc} ({trunk})" + " ".join(intl_groups))
        out.append("00" + e164_form[1:])
    return tuple(dict.fromkeys(item for item in out if item))


def odata_quote(value: object) -> str:
    """`value` as an OData string literal: single-quoted, embedded quotes doubled."""
    text = "" if value is None else str(value)
    return "'" + text.replace("'", "''") + "'"


def _columns(columns: str | Iterable[str]) -> list[str]:
    items = columns.split(",") if isinstance(columns, str) else list(columns)
    names = [str(c).strip() for c in items if str(c).strip()]
    if not names:
        raise ValueError("at least one phone column is required")
    for name in names:
        if not _COLUMN.match(name):
            raise ValueError(f"not a Dataverse column name: {name!r}")
    return names


def match_nothing_filter(entity: str = "contact") -> str:
    """A filter no row satisfies (the primary key is never null)."""
    if not _ENTITY.match(entity):
        raise ValueError(f"not a Dataverse table name: {entity!r}")
    return f"{entity}id eq null"


def odata_phone_filter(
    ani: object,
    columns: str | Iterable[str] = "telephone1,mobilephone,telephone2",
    region: str = "US",
    e164_column: str = "",
    entity: str = "contact",
    e164_only: bool = False,
    active_only: bool = False,
) -> str:
    """An OData `$filter` matching `ani` exactly (`eq`, index friendly) in any of `columns`.

    `(telephone1 eq '+14155550123' or mobilephone eq '+14155550123' or ...)`, with an
    extra `e164_column eq '<E.164>'` clause when a normalized column is configured;
    with `e164_only`, that one clause alone (one index probe). `active_only` adds
    `and statecode eq 0`: Dataverse's merge keeps the losing duplicate, inactive, with
    its numbers. For anything that is not a valid phone number the filter matches
    nothing. The connector's org settings feed these arguments (`from_connector`), so
    the flow and `dipflow crm check` build the same filter.
    """
    names = _columns(columns)
    e164_col = e164_column.strip() if isinstance(e164_column, str) else ""
    if e164_col and not _COLUMN.match(e164_col):
        raise ValueError(f"not a Dataverse column name: {e164_col!r}")
    e164_only = _truthy(e164_only)
    if e164_only and not e164_col:
        raise ValueError("e164_only needs an e164_column")
    variants = phone_variants(ani, region)
    if not variants:
        return match_nothing_filter(entity)
    if e164_only:
        clauses = [f"{e164_col} eq {odata_quote(variants[0])}"]
    else:
        clauses = [f"{name} eq {odata_quote(v)}" for v in variants for name in names]
        if e164_col:
            clauses.insert(0, f"{e164_col} eq {odata_quote(variants[0])}")
    phone = "(" + " or ".join(clauses) + ")"
    return f"{phone} and statecode eq 0" if _truthy(active_only) else phone


def _truthy(value: object) -> bool:
    """A flag from a flow variable: a boolean, or its text form."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


_GUID = re.compile(
    r"^\{?([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\}?$"
)


def guid(value: object) -> str:
    """`value` as a lower-case GUID, or "" when it is not one.

    A GUID from a response goes into a request path (`accounts(<id>)/...`) unquoted,
    as OData wants it; checking its shape first keeps any other text out of the URL.
    """
    match = _GUID.match(value.strip()) if isinstance(value, str) else None
    return match.group(1).lower() if match else ""


def _uri_component(value: object) -> str:
    return quote("" if value is None else str(value), safe=_URI_COMPONENT_SAFE)


def dynamics_extraqs(mapping: Mapping[str, object]) -> str:
    """The value of a Dynamics `extraqs` form parameter, before URL encoding.

    Microsoft documents that values containing `=` or `&` must be encoded twice:
    name `A=B&C` travels as `extraqs=name%3DA%253DB%2526C`. This returns the inner
    layer (`name=A%3DB%26C`); the screen pop's query-string encoder adds the outer
    one, exactly like `encodeURIComponent` on the whole string. Keys must be column
    names; None values are left out.
    """
    parts = []
    for key, value in mapping.items():
        if not _COLUMN.match(str(key)):
            raise ValueError(f"not a Dataverse column name: {key!r}")
        if value is None:
            continue
        parts.append(f"{key}={_uri_component(value)}")
    return "&".join(parts)


FILTERS: dict[str, Callable[..., Any]] = {
    "phone_variants": phone_variants,
    "odata_phone_filter": odata_phone_filter,
    "odata_quote": odata_quote,
    "dynamics_extraqs": dynamics_extraqs,
    "e164": e164,
    "guid": guid,
}
