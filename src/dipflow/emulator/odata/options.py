"""Parse the system query options of a Web API GET into a validated `QueryOptions`.

Supported, following Microsoft Learn "Query data using the Web API": `$select`,
`$filter`, `$orderby` (several keys, asc/desc), `$top`, `$count`, and `$expand`
with nested `$select;$filter;$orderby;$top` (and nested `$expand`) separated by
`;` inside the parentheses. Options Dataverse does not support (`$skip`,
`$search`, ...) are refused with 400 as Dataverse does.

Microsoft Learn, "Join tables using OData", "Nested $expand on collection-valued
navigation properties": once any `$expand` in a query holds another `$expand`,
no collection-valued expansion may carry `$top` or `$orderby`, and a
single-valued (many-to-one) expansion never may. Dataverse answers 400
`0x80060888` with `NESTED_EXPAND_MESSAGE`; so does the emulator.

Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dipflow.emulator.errors import bad_query, unknown_property
from dipflow.emulator.odata.filter_ast import Node
from dipflow.emulator.odata.filter_parser import parse_filter
from dipflow.emulator.odata.filter_sql import compile_filter
from dipflow.emulator.schema import ENTITIES, Entity, Navigation, NavKind

MAX_TOP = 5000
"""Dataverse's maximum page size; the emulator returns at most this many rows."""
COUNT_LIMIT = 5000
"""`$count` and `/$count` count at most this many rows (Microsoft Learn, "Count rows")."""
MAX_EXPAND_DEPTH = 3

NESTED_EXPAND_MESSAGE = (
    "Only $select and $filter clause can be provided while doing $expand on many-to-one "
    "relationship or nested one-to-many relationship."
)
"""Dataverse's words for `$top`/`$orderby` where they are not allowed (Microsoft Learn)."""

_SUPPORTED = {"$select", "$filter", "$orderby", "$top", "$count", "$expand"}
_NESTED_COLLECTION = {"$select", "$filter", "$orderby", "$top", "$expand"}
_NESTED_SINGLE = {"$select", "$expand"}


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderKey:
    column: str
    descending: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpandItem:
    navigation: Navigation
    options: QueryOptions
    raw: Mapping[str, str] = field(default_factory=dict)
    """The nested options as the client wrote them (for `<nav>@odata.nextLink`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryOptions:
    select: tuple[str, ...] | None = None
    filter: Node | None = None
    orderby: tuple[OrderKey, ...] = ()
    top: int | None = None
    count: bool = False
    expand: tuple[ExpandItem, ...] = field(default_factory=tuple)

    @property
    def nested_expand(self) -> bool:
        """True when any `$expand` of this query holds another `$expand`.

        Dataverse then pages every expanded collection (and forbids `$top`/`$orderby`
        inside them); otherwise expanded collections are not paged at all.
        """
        return any(item.options.expand or item.options.nested_expand for item in self.expand)


def parse_options(params: Mapping[str, str], entity: Entity) -> QueryOptions:
    """Validate the `$...` query parameters of a request against `entity`."""
    options = {k: v for k, v in params.items() if k.startswith("$")}
    for name in options:
        if name not in _SUPPORTED:
            raise bad_query(f"The query parameter {name} is not supported.")
    built = _build(options, entity, depth=0)
    _check_expand_limits(built.expand, nested=built.nested_expand)
    return built


def _check_expand_limits(items: tuple[ExpandItem, ...], *, nested: bool) -> None:
    for item in items:
        limited = item.options.top is not None or bool(item.options.orderby)
        single = item.navigation.kind is NavKind.SINGLE
        if limited and (single or nested):
            raise bad_query(NESTED_EXPAND_MESSAGE)
        _check_expand_limits(item.options.expand, nested=nested)


def _build(options: Mapping[str, str], entity: Entity, *, depth: int) -> QueryOptions:
    select = _select(options["$select"], entity) if "$select" in options else None
    filter_node = None
    if "$filter" in options:
        filter_node = parse_filter(options["$filter"])
        compile_filter(filter_node, entity)  # type-check now, so errors are 400 up front
    orderby = _orderby(options["$orderby"], entity) if "$orderby" in options else ()
    top = _top(options["$top"]) if "$top" in options else None
    count = _count(options["$count"]) if "$count" in options else False
    expand = _expand(options["$expand"], entity, depth) if "$expand" in options else ()
    return QueryOptions(
        select=select, filter=filter_node, orderby=orderby, top=top, count=count, expand=expand
    )


def split_top_level(text: str, separator: str) -> list[str]:
    """Split on `separator` outside quotes and parentheses."""
    parts: list[str] = []
    depth = 0
    in_string = False
    start = 0
    for i, ch in enumerate(text):
        if ch == "'":
            in_string = not in_string  # a doubled '' toggles twice: still correct
        elif in_string:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise bad_query(f"Unbalanced ')' in '{text}'.")
        elif ch == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0 or in_string:
        raise bad_query(f"Unbalanced parentheses or quotes in '{text}'.")
    parts.append(text[start:])
    return parts


def _select(text: str, entity: Entity) -> tuple[str, ...]:
    names: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            raise bad_query("$select has an empty property name.")
        if name == "*":
            return tuple(entity.columns)
        if entity.column(name) is None:
            raise unknown_property(name, entity.logical_name)
        if name not in names:
            names.append(name)
    return tuple(names)


def _orderby(text: str, entity: Entity) -> tuple[OrderKey, ...]:
    keys: list[OrderKey] = []
    for raw in text.split(","):
        words = raw.split()
        if not words or len(words) > 2:
            raise bad_query(f"Syntax error in $orderby: '{raw.strip()}'.")
        name = words[0]
        if entity.column(name) is None:
            raise unknown_property(name, entity.logical_name)
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise bad_query(f"$orderby direction must be asc or desc, not '{words[1]}'.")
        keys.append(OrderKey(column=name, descending=direction == "desc"))
    return tuple(keys)


def _top(text: str) -> int:
    value = text.strip()
    if not value.isascii() or not value.isdigit():
        raise bad_query(f"Invalid value '{text}' for $top query option found.")
    return min(int(value), MAX_TOP) if len(value) < 12 else MAX_TOP


def _count(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise bad_query(f"Invalid value '{text}' for $count query option found.")
    return value == "true"


def _expand(text: str, entity: Entity, depth: int) -> tuple[ExpandItem, ...]:
    if depth >= MAX_EXPAND_DEPTH:
        raise bad_query(f"$expand is nested deeper than {MAX_EXPAND_DEPTH} levels.")
    items: list[ExpandItem] = []
    for raw in split_top_level(text, ","):
        part = raw.strip()
        name, _, rest = part.partition("(")
        name = name.strip()
        navigation = entity.navigations.get(name)
        if navigation is None:
            raise bad_query(
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.Dynamics.CRM.{entity.logical_name}'."
            )
        nested: dict[str, str] = {}
        if rest:
            if not rest.endswith(")"):
                raise bad_query(f"Syntax error in $expand: '{part}'.")
            allowed = (
                _NESTED_COLLECTION if navigation.kind is NavKind.COLLECTION else _NESTED_SINGLE
            )
            for option in split_top_level(rest[:-1], ";"):
                key, eq, value = option.strip().partition("=")
                if eq and key in ("$top", "$orderby") and navigation.kind is NavKind.SINGLE:
                    raise bad_query(NESTED_EXPAND_MESSAGE)
                if not eq or key not in allowed:
                    raise bad_query(
                        f"The option '{key}' is not allowed inside $expand of '{name}'."
                    )
                nested[key] = value
        target = ENTITIES[navigation.target]
        built = _build(nested, target, depth=depth + 1)
        items.append(ExpandItem(navigation=navigation, options=built, raw=nested))
    return tuple(items)
