"""Validate POST/PATCH bodies into column values (Dataverse's write rules, simplified).

Unknown properties are refused with 400 `0x80048d19` as Dataverse does; a
lookup is set with `<single-valued navigation>@odata.bind` ("Associate table rows
on create", Microsoft Learn): `customerid_contact@odata.bind` /
`customerid_account@odata.bind` for a case's customer,
`parentcustomerid_account@odata.bind` for a contact's company,
`primarycontactid@odata.bind`; never by writing `_<lookup>_value`.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dipflow.emulator.errors import bad_payload
from dipflow.emulator.odata.values import is_guid, normalize_datetime
from dipflow.emulator.schema import CUSTOMER_TYPE_COLUMN, ColumnType, Entity, NavKind

_BIND = re.compile(r"(?:^|/)(contacts|accounts|incidents)\(([0-9A-Fa-f-]{36})\)$")
MAX_STRING = 4000


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """`<navigation>@odata.bind`: the lookup behind `navigation` points at `set_name(key)`."""

    navigation: str
    set_name: str
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Payload:
    values: dict[str, Any]
    bindings: tuple[Binding, ...] = ()

    @property
    def customer(self) -> Binding | None:
        """An incident's customer binding (`customerid_contact` / `customerid_account`)."""
        return next((b for b in self.bindings if b.navigation.startswith("customerid_")), None)


def parse_payload(entity: Entity, body: object) -> Payload:
    if not isinstance(body, dict):
        raise bad_payload("The request body must be a JSON object.")
    values: dict[str, Any] = {}
    bindings: dict[str, Binding] = {}
    for name, value in body.items():
        if not isinstance(name, str):
            raise bad_payload("Property names must be strings.")
        if name.startswith("@odata.") or (name.startswith("@") and "." in name):
            continue  # instance annotations such as @odata.type are ignored
        if name.endswith("@odata.bind"):
            binding = _binding(entity, name, value)
            bindings[binding.navigation] = binding
            continue
        column = entity.column(name)
        if column is None:
            raise bad_payload(
                f"Invalid property '{name}' was found in entity "
                f"'Microsoft.Dynamics.CRM.{entity.logical_name}'."
            )
        if not column.writable:
            continue  # read-only columns (modifiedon, versionnumber) are ignored
        values[name] = _value(column.name, column.type, value)
    customers = [b for b in bindings if b.startswith("customerid_")]
    if len(customers) > 1:
        raise bad_payload("A case has one customer: bind customerid_contact or customerid_account.")
    return Payload(values=values, bindings=tuple(bindings.values()))


def _binding(entity: Entity, name: str, value: object) -> Binding:
    nav = name[: -len("@odata.bind")]
    navigation = entity.navigations.get(nav)
    if navigation is None or navigation.kind is not NavKind.SINGLE:
        raise bad_payload(
            f"An undeclared property '{nav}' which only has property annotations in the "
            "payload but no property value was found in the payload."
        )
    expected = navigation.target
    if not isinstance(value, str):
        raise bad_payload(f"'{name}' must be an entity reference like '/{expected}(<id>)'.")
    match = _BIND.search(value.strip())
    if match is None or match.group(1) != expected or not is_guid(match.group(2)):
        raise bad_payload(f"'{name}' must be an entity reference like '/{expected}(<id>)'.")
    return Binding(navigation=nav, set_name=expected, key=match.group(2).lower())


def _value(name: str, kind: ColumnType, value: object) -> Any:
    if value is None:
        return None
    if kind is ColumnType.STRING:
        if not isinstance(value, str):
            raise bad_payload(
                f"Cannot convert the literal '{value}' to the expected type "
                f"'Edm.String' for '{name}'."
            )
        if len(value) > MAX_STRING:
            raise bad_payload(f"'{name}' is longer than {MAX_STRING} characters.")
        return value
    if kind in (ColumnType.INT, ColumnType.BIGINT):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_payload(
                f"Cannot convert the literal '{value}' to the expected type "
                f"'{kind.value}' for '{name}'."
            )
        return value
    if kind is ColumnType.GUID:
        if not isinstance(value, str) or not is_guid(value):
            raise bad_payload(f"'{name}' must be a GUID.")
        return value.lower()
    if not isinstance(value, str):
        raise bad_payload(f"'{name}' must be an ISO 8601 date-time.")
    try:
        return normalize_datetime(value)
    except Exception:
        raise bad_payload(f"'{name}' must be an ISO 8601 date-time.") from None


CUSTOMER_COLUMNS = ("_customerid_value", CUSTOMER_TYPE_COLUMN)
