"""Turn stored rows into Web API JSON: `$select`, etags, annotations, expansions.

Annotation names are Dataverse's (Microsoft Learn, "Formatted values" and
"Lookup property data"): `<prop>@OData.Community.Display.V1.FormattedValue`,
`_x_value@Microsoft.Dynamics.CRM.lookuplogicalname` and
`@Microsoft.Dynamics.CRM.associatednavigationproperty`. They are only added when
the client sends `Prefer: odata.include-annotations="..."`.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dipflow.emulator.odata.options import QueryOptions
from dipflow.emulator.schema import (
    CUSTOMER_TYPE_COLUMN,
    ENTITIES,
    INCIDENTS,
    ColumnType,
    Entity,
    NavKind,
)
from dipflow.emulator.store import CUSTOMER_NAME, Record

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


def etag(record: Record) -> str:
    return f'W/"{record.get("versionnumber") or 0}"'


def to_json(
    entity: Entity,
    record: Record,
    options: QueryOptions,
    annotations: AnnotationFilter,
) -> dict[str, Any]:
    body: dict[str, Any] = {"@odata.etag": etag(record)}
    names = options.select if options.select is not None else tuple(entity.columns)
    if entity.key not in names:
        names = (*names, entity.key)  # Dataverse always returns the primary key
    for name in names:
        body[name] = record.get(name)
        if annotations.any:
            body.update(_annotations(entity, name, record, annotations))
    for item in options.expand:
        nav = item.navigation
        target = ENTITIES[nav.target]
        value = record.get(nav.name)
        if nav.kind is NavKind.SINGLE:
            body[nav.name] = (
                to_json(target, value, item.options, annotations) if value is not None else None
            )
        else:
            body[nav.name] = [to_json(target, v, item.options, annotations) for v in value or []]
    return body


def _annotations(
    entity: Entity, name: str, record: Record, wanted: AnnotationFilter
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    value = record.get(name)
    column = entity.columns[name]
    if value is None:
        return out
    if entity is INCIDENTS and name == "_customerid_value":
        kind = record.get(CUSTOMER_TYPE_COLUMN)
        if wanted.wants(FORMATTED):
            out[f"{name}@{FORMATTED}"] = record.get(CUSTOMER_NAME)
        if wanted.wants(ASSOCIATED_NAV) and kind:
            out[f"{name}@{ASSOCIATED_NAV}"] = f"customerid_{kind}"
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
