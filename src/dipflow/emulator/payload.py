"""Validate POST/PATCH bodies into column values (Dataverse's write rules, simplified).

Unknown properties are refused with 400 `0x80048d19` as Dataverse does; the
customer of an incident is set with `customerid_contact@odata.bind` or
`customerid_account@odata.bind` ("Associate table rows on create", Microsoft
Learn), never by writing `_customerid_value`.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dipflow.emulator.errors import bad_payload
from dipflow.emulator.odata.values import is_guid, normalize_datetime
from dipflow.emulator.schema import CUSTOMER_TYPE_COLUMN, INCIDENTS, ColumnType, Entity

_BIND = re.compile(r"(?:^|/)(contacts|accounts)\(([0-9A-Fa-f-]{36})\)$")
_BIND_TYPES = {"customerid_contact": "contacts", "customerid_account": "accounts"}
MAX_STRING = 4000


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerBinding:
    set_name: str
    key: str

    @property
    def logical_name(self) -> str:
        return "contact" if self.set_name == "contacts" else "account"


@dataclass(frozen=True, slots=True, kw_only=True)
class Payload:
    values: dict[str, Any]
    customer: CustomerBinding | None


def parse_payload(entity: Entity, body: object) -> Payload:
    if not isinstance(body, dict):
        raise bad_payload("The request body must be a JSON object.")
    values: dict[str, Any] = {}
    customer: CustomerBinding | None = None
    for name, value in body.items():
        if not isinstance(name, str):
            raise bad_payload("Property names must be strings.")
        if name.startswith("@odata.") or (name.startswith("@") and "." in name):
            continue  # instance annotations such as @odata.type are ignored
        if name.endswith("@odata.bind"):
            customer = _binding(entity, name, value)
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
    return Payload(values=values, customer=customer)


def _binding(entity: Entity, name: str, value: object) -> CustomerBinding:
    nav = name[: -len("@odata.bind")]
    expected = _BIND_TYPES.get(nav) if entity is INCIDENTS else None
    if expected is None:
        raise bad_payload(
            f"An undeclared property '{nav}' which only has property annotations in the "
            "payload but no property value was found in the payload."
        )
    if not isinstance(value, str):
        raise bad_payload(f"'{name}' must be an entity reference like '/{expected}(<id>)'.")
    match = _BIND.search(value.strip())
    if match is None or match.group(1) != expected or not is_guid(match.group(2)):
        raise bad_payload(f"'{name}' must be an entity reference like '/{expected}(<id>)'.")
    return CustomerBinding(set_name=expected, key=match.group(2).lower())


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
