"""Turn stored rows into Web API JSON: `$select`, etags, annotations, expansions.

Annotation names are Dataverse's (Microsoft Learn, "Formatted values" and
"Lookup property data"): `<prop>@OData.Community.Display.V1.FormattedValue`,
`_x_value@Microsoft.Dynamics.CRM.lookuplogicalname` and
`@Microsoft.Dynamics.CRM.associatednavigationproperty`. They are only added when
the client sends `Prefer: odata.include-annotations="..."`.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from dipflow.emulator.odata.options import ExpandItem, QueryOptions
from dipflow.emulator.schema import ENTITIES, ColumnType, Entity, NavKind
from dipflow.emulator.store import Record

Place = Literal["top", "single", "collection"]
"""Where a record sits in a response: a result row, a single-valued or a collection expansion."""

_LINK_SAFE = "$(),;='*:/@"
"""Characters left as they are in a `<nav>@odata.nextLink` query (spaces become %20)."""

_PREFERENCE = re.compile(r'([\w.-]+)\s*(?:=\s*("[^"]*"|[^,]*))?')
"""One preference of RFC 7240's `Prefer` header: `token [= word]`, quoted words may hold commas."""

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_LOGICAL_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
ASSOCIATED_NAV = "Microsoft.Dynamics.CRM.associatednavigationproperty"


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnotationFilter:
    """The `odata.include-annotations` preference: `*`, names, or `Prefix.*` patterns."""

    patterns: tuple[str, ...] = ()

    def wants(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.patterns)

    @property
    def any(self) -> bool:
        return bool(self.patterns)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rendering:
    """How one response renders records (shared by every row and expansion in it)."""

    annotations: AnnotationFilter = AnnotationFilter()
    api_url: str = ""
    """`<org>/api/data/v9.2/`, for the `<nav>@odata.nextLink` of expanded collections."""
    nested: bool = False
    """The query holds a nested `$expand` (`QueryOptions.nested_expand`)."""
    page_size: int | None = None
    """`Prefer: odata.maxpagesize`; with `nested`, it pages every expanded collection."""


def etag(record: Record) -> str:
    return f'W/"{record.get("versionnumber") or 0}"'


def to_json(
    entity: Entity,
    record: Record,
    options: QueryOptions,
    rendering: Rendering,
    *,
    place: Place = "top",
    link_column: str | None = None,
) -> dict[str, Any]:
    """One record as the Web API writes it.

    Microsoft Learn, "Join tables using OData" (response examples): a record of an
    expanded collection carries `@odata.etag` and the referencing lookup value
    (`_customerid_value` in `incident_customer_contacts`) even when `$select` omits
    it; a record expanded through a single-valued navigation carries neither etag
    nor lookup; with a nested `$expand` the expanded records carry no etag either.
    """
    body: dict[str, Any] = {}
    if place == "top" or (place == "collection" and not rendering.nested):
        body["@odata.etag"] = etag(record)
    names = options.select if options.select is not None else tuple(entity.columns)
    if link_column is not None and not rendering.nested and link_column not in names:
        names = (*names, link_column)
    if entity.key not in names:
        names = (*names, entity.key)  # Dataverse always returns the primary key
    for name in names:
        body[name] = record.get(name)
        if rendering.annotations.any:
            body.update(_annotations(entity, name, record, rendering.annotations))
    for item in options.expand:
        nav = item.navigation
        target = ENTITIES[nav.target]
        value = record.get(nav.name)
        if nav.kind is NavKind.SINGLE:
            body[nav.name] = (
                to_json(target, value, item.options, rendering, place="single")
                if value is not None
                else None
            )
            continue
        children: list[Record] = list(value or [])
        more = (
            rendering.nested
            and rendering.page_size is not None
            and (len(children) > rendering.page_size)
        )
        if more and rendering.page_size is not None:
            children = children[: rendering.page_size]
        body[nav.name] = [
            to_json(
                target,
                child,
                item.options,
                rendering,
                place="collection",
                link_column=nav.remote_column,
            )
            for child in children
        ]
        if rendering.api_url:
            body[f"{nav.name}@odata.nextLink"] = _related_link(
                rendering, entity, record, item, more=more
            )
    return body


def _related_link(
    rendering: Rendering, entity: Entity, record: Record, item: ExpandItem, *, more: bool
) -> str:
    """The filtered collection behind an expansion, with the client's options appended.

    Without a nested `$expand` Dataverse applies no paging to expansions and the link
    carries none; with one, the link carries a `$skiptoken` for the next page.
    """
    params = [(k, v) for k, v in item.raw.items()]
    if more and rendering.page_size is not None:
        params.append(("$skiptoken", encode_skiptoken(rendering.page_size)))
    query = "&".join(f"{k}={quote(v, safe=_LINK_SAFE)}" for k, v in params)
    url = f"{rendering.api_url}{entity.set_name}({record[entity.key]})/{item.navigation.name}"
    return f"{url}?{query}" if query else url


def encode_skiptoken(offset: int) -> str:
    """An opaque `$skiptoken` (here an encoded offset, not Dataverse's paging cookie)."""
    raw = json.dumps({"offset": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _annotations(
    entity: Entity, name: str, record: Record, wanted: AnnotationFilter
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    value = record.get(name)
    column = entity.columns[name]
    if value is None:
        return out
    lookup = entity.lookup(name)
    if lookup is not None:
        kind = record.get(lookup.type_column) if lookup.type_column else lookup.targets[0]
        if wanted.wants(FORMATTED):
            out[f"{name}@{FORMATTED}"] = record.get(lookup.name_column)
        if wanted.wants(ASSOCIATED_NAV) and kind:
            out[f"{name}@{ASSOCIATED_NAV}"] = lookup.navigation_name(str(kind))
        if wanted.wants(LOOKUP_LOGICAL_NAME) and kind:
            out[f"{name}@{LOOKUP_LOGICAL_NAME}"] = kind
        return out
    if not wanted.wants(FORMATTED):
        return out
    if column.options:
        label = column.options.get(int(value))
        if label is not None:
            out[f"{name}@{FORMATTED}"] = label
    elif column.type is ColumnType.DATETIME:
        out[f"{name}@{FORMATTED}"] = _format_datetime(str(value))
    elif column.type in (ColumnType.INT, ColumnType.BIGINT):
        out[f"{name}@{FORMATTED}"] = f"{int(value):,}"
    return out


def _format_datetime(stored: str) -> str:
    """en-US display form Dataverse uses for formatted dates, e.g. `1/15/2024 10:30 AM`."""
    moment = datetime.fromisoformat(stored.replace("Z", "+00:00"))
    hour = moment.hour % 12 or 12
    suffix = "AM" if moment.hour < 12 else "PM"
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d} {suffix}"


def parse_prefer(header: str) -> tuple[bool, AnnotationFilter]:
    """Return (return=representation?, include-annotations) from a Prefer header."""
    representation = False
    patterns: list[str] = []
    for match in _PREFERENCE.finditer(header):
        key = match.group(1).lower()
        value = (match.group(2) or "").strip().strip('"')
        if key == "return" and value == "representation":
            representation = True
        elif key == "odata.include-annotations":
            patterns.extend(p.strip() for p in value.split(",") if p.strip())
    return representation, AnnotationFilter(patterns=tuple(patterns))


def max_page_size(header: str) -> int | None:
    """`Prefer: odata.maxpagesize=N` (OData 4.01 Protocol §8.2.8.3), if valid."""
    for match in _PREFERENCE.finditer(header):
        if match.group(1).lower() == "odata.maxpagesize":
            value = (match.group(2) or "").strip().strip('"')
            if value.isascii() and value.isdigit() and 0 < len(value) < 7 and int(value) > 0:
                return int(value)
    return None
