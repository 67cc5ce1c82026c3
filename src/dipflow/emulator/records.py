"""Create, update and delete with Dataverse's server-side defaults.

On create Dataverse fills the primary key, `createdon`, `modifiedon`,
`versionnumber`, `statecode`/`statuscode`, a contact's `fullname` (from first and
last name) and a case's `ticketnumber` (CAS-nnnnn-xxxxxx); an incident must have
a customer. Updates bump `versionnumber`, which is what `@odata.etag` reports.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import random
import string
import uuid
from typing import Any

from dipflow.emulator.errors import ErrorCode, ODataError, bad_payload
from dipflow.emulator.payload import Payload
from dipflow.emulator.schema import CONTACTS, ENTITIES, INCIDENTS, Entity
from dipflow.emulator.store import Record, Store

_TICKET_ALPHABET = string.ascii_uppercase + string.digits


def ticket_number(rng: random.Random) -> str:
    suffix = "".join(rng.choice(_TICKET_ALPHABET) for _ in range(6))
    return f"CAS-{rng.randrange(100000):05d}-{suffix}"


def not_found(entity: Entity, key: str) -> ODataError:
    return ODataError(
        404,
        ErrorCode.RECORD_NOT_FOUND,
        f"Entity '{entity.logical_name}' With Id = {key} Does Not Exist",
    )


def create(
    store: Store, entity: Entity, payload: Payload, rng: random.Random, *, key: str | None = None
) -> Record:
    values = dict(payload.values)
    record_key = key or values.get(entity.key) or str(uuid.uuid4())
    if store.get(entity, record_key) is not None:
        raise ODataError(
            412, ErrorCode.DUPLICATE_RECORD, "A record with matching key values already exists."
        )
    now = store.now()
    values[entity.key] = record_key
    values.setdefault("createdon", now)
    values["modifiedon"] = now
    values["versionnumber"] = store.next_version()
    values.setdefault("statecode", 0)
    values.setdefault("statuscode", 1)
    if entity is CONTACTS and not values.get("fullname"):
        values["fullname"] = _fullname(values)
    _apply_bindings(store, entity, payload, values)
    if entity is INCIDENTS:
        if payload.customer is None:
            raise bad_payload("You should specify a parent contact or account.")
        values.setdefault("prioritycode", 2)
        if not values.get("ticketnumber"):
            values["ticketnumber"] = ticket_number(rng)
    store.insert(entity, values)
    created = store.get(entity, record_key)
    assert created is not None
    return created


def update(store: Store, entity: Entity, key: str, payload: Payload) -> Record:
    current = store.get(entity, key)
    if current is None:
        raise not_found(entity, key)
    values = {k: v for k, v in payload.values.items() if k != entity.key}
    renamed = "firstname" in values or "lastname" in values
    if entity is CONTACTS and renamed and "fullname" not in values:
        values["fullname"] = _fullname({**current, **values})
    _apply_bindings(store, entity, payload, values)
    values["modifiedon"] = store.now()
    values["versionnumber"] = store.next_version()
    store.update(entity, key, values)
    updated = store.get(entity, key)
    assert updated is not None
    return updated


def delete(store: Store, entity: Entity, key: str) -> None:
    if not store.delete(entity, key):
        raise not_found(entity, key)


def _fullname(values: dict[str, Any]) -> str | None:
    parts = [values.get("firstname"), values.get("lastname")]
    name = " ".join(p for p in parts if p)
    return name or None


def _apply_bindings(store: Store, entity: Entity, payload: Payload, values: dict[str, Any]) -> None:
    """Set each bound lookup (and a polymorphic lookup's target type) after checking
    that the referenced record exists, as Dataverse does (404 otherwise)."""
    for binding in payload.bindings:
        nav = entity.navigations[binding.navigation]
        target = ENTITIES[binding.set_name]
        if store.get(target, binding.key) is None:
            raise not_found(target, binding.key)
        values[nav.local_column] = binding.key
        if nav.type_column is not None:
            values[nav.type_column] = target.logical_name
