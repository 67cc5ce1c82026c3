"""SQLite storage for the emulator's tables.

One connection guarded by a lock: the emulator serves tests and demos, and a
single SQLite connection answers an indexed phone lookup in well under a
millisecond, so handlers call the store directly instead of hopping threads.

SQL safety: every identifier in the SQL below is a table or column name defined
in `dipflow.emulator.schema` (write paths check this with `_known`), and every
value is a bound `?` parameter; hence the `noqa: S608` markers.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dipflow.emulator.odata.filter_sql import compile_filter, quote_ident
from dipflow.emulator.odata.like import tsql_like
from dipflow.emulator.odata.options import COUNT_LIMIT, MAX_TOP, QueryOptions
from dipflow.emulator.odata.values import format_datetime
from dipflow.emulator.schema import (
    BY_LOGICAL_NAME,
    ENTITIES,
    Entity,
    Lookup,
    NavKind,
    index_ddl,
    table_ddl,
)

Record = dict[str, Any]
"""One row: every column, plus `customeridname` on incidents and expanded navigations."""

CUSTOMER_NAME = "customeridname"
"""Computed column: the case customer's name (contact fullname or account name)."""


def _name_sql(entity: Entity, lookup: Lookup) -> str:
    """SQL for a lookup's computed name column: the target's primary name, by key.

    The sub-select aliases its table so that a self-reference (a contact's parent
    contact) and the outer WHERE (bare column names) stay unambiguous.
    """
    column = f"{entity.set_name}.{quote_ident(lookup.column)}"
    branches = []
    for target in lookup.targets:
        table = BY_LOGICAL_NAME[target]
        select = (
            f"(SELECT t.{quote_ident(table.primary_name)} FROM {table.set_name} AS t "  # noqa: S608
            f"WHERE t.{quote_ident(table.key)} = {column})"
        )
        branches.append((target, select))
    if lookup.type_column is None:
        return f"{branches[0][1]} AS {lookup.name_column}"
    cases = " ".join(f"WHEN '{target}' THEN {select}" for target, select in branches)
    return f"CASE {entity.set_name}.{lookup.type_column} {cases} END AS {lookup.name_column}"


def _select_list(entity: Entity) -> str:
    if not entity.lookups:
        return "*"
    names = ", ".join(_name_sql(entity, lookup) for lookup in entity.lookups)
    return f"{entity.set_name}.*, {names}"


class Store:
    """The emulator's data: three Dataverse tables in one SQLite database."""

    def __init__(self, path: str | Path, *, clock: Callable[[], datetime] | None = None) -> None:
        self._path = str(path)
        self._lock = threading.RLock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.create_function("tsql_like", 2, tsql_like, deterministic=True)
        if self._path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        for statement in table_ddl():
            self._conn.execute(statement)
        self._add_missing_columns()
        for statement in index_ddl():
            self._conn.execute(statement)
        # versionnumber is a rowversion: it only has to grow. Starting from the clock in
        # microseconds beats any seeded value without scanning millions of rows at start-up.
        self._version = int(time.time() * 1_000_000)

    def _add_missing_columns(self) -> None:
        """Bring a database file made by an older emulator up to the current schema."""
        for entity in ENTITIES.values():
            present = {
                str(r[1]) for r in self._conn.execute(f"PRAGMA table_info({entity.set_name})")
            }
            for name in (*entity.columns, *entity.hidden_columns):
                if name not in present:
                    kind = "INTEGER" if name in ("statecode", "statuscode") else "TEXT"
                    self._conn.execute(
                        f"ALTER TABLE {entity.set_name} ADD COLUMN {quote_ident(name)} {kind}"
                    )

    def is_empty(self) -> bool:
        with self._lock:
            return all(
                self._conn.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchone() is None  # noqa: S608
                for name in ENTITIES
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def now(self) -> str:
        return format_datetime(self._clock())

    def next_version(self) -> int:
        with self._lock:
            self._version = max(self._version + 1, int(time.time() * 1_000_000))
            return self._version

    # -- reads ---------------------------------------------------------------
    def query(
        self,
        entity: Entity,
        options: QueryOptions,
        *,
        offset: int = 0,
        limit: int | None = None,
        expand_page: int | None = None,
    ) -> tuple[list[Record], int | None]:
        """Rows matching `options` (filtered, ordered, limited, expanded) and the count.

        `limit` defaults to `$top` (or the 5000-row maximum); `offset` serves paging.
        `expand_page` pages expanded collections (Dataverse does so with a nested
        `$expand`): each holds at most `expand_page + 1` rows, the extra one telling
        the caller that a next page exists. The count stops at `COUNT_LIMIT + 1`.
        """
        where, params = self._where(entity, options)
        order = self._order(entity, options)
        if limit is None:
            limit = options.top if options.top is not None else MAX_TOP
        sql = f"SELECT {_select_list(entity)} FROM {entity.set_name}{where}{order} LIMIT ? OFFSET ?"  # noqa: S608
        with self._lock:
            rows = [dict(r) for r in self._conn.execute(sql, (*params, limit, offset))]
            count = self._count(entity, where, params) if options.count else None
            self._expand(entity, rows, options, page=expand_page)
        return rows, count

    def count(self, entity: Entity, options: QueryOptions) -> int:
        """Matching rows, counted up to `COUNT_LIMIT + 1` (see `_count`)."""
        where, params = self._where(entity, options)
        with self._lock:
            return self._count(entity, where, params)

    def _count(self, entity: Entity, where: str, params: tuple[Any, ...]) -> int:
        # Dataverse counts up to 5,000; one more row tells "exactly 5,000" from "more",
        # and stopping there keeps a count over a million rows cheap.
        sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {entity.set_name}{where} LIMIT ?)"  # noqa: S608
        return int(self._conn.execute(sql, (*params, COUNT_LIMIT + 1)).fetchone()[0])

    def explain(self, entity: Entity, options: QueryOptions) -> list[str]:
        """SQLite's query plan for `query` (tests use it to keep lookups on indexes)."""
        where, params = self._where(entity, options)
        sql = f"SELECT * FROM {entity.set_name}{where}{self._order(entity, options)} LIMIT ?"  # noqa: S608
        with self._lock:
            rows = self._conn.execute(f"EXPLAIN QUERY PLAN {sql}", (*params, 1)).fetchall()
        return [str(r[3]) for r in rows]

    def get(
        self,
        entity: Entity,
        key: str,
        options: QueryOptions | None = None,
        *,
        expand_page: int | None = None,
    ) -> Record | None:
        sql = (
            f"SELECT {_select_list(entity)} FROM {entity.set_name} "  # noqa: S608
            f"WHERE {quote_ident(entity.key)} = ?"
        )
        with self._lock:
            row = self._conn.execute(sql, (key,)).fetchone()
            if row is None:
                return None
            record = dict(row)
            if options is not None:
                self._expand(entity, [record], options, page=expand_page)
        return record

    def _where(self, entity: Entity, options: QueryOptions) -> tuple[str, tuple[Any, ...]]:
        if options.filter is None:
            return "", ()
        fragment = compile_filter(options.filter, entity)
        return f" WHERE {fragment.sql}", fragment.params

    def _order(self, entity: Entity, options: QueryOptions) -> str:
        keys = [
            f"{quote_ident(k.column)} {'DESC' if k.descending else 'ASC'}" for k in options.orderby
        ]
        keys.append(quote_ident(entity.key))  # stable order, like a clustered key
        return " ORDER BY " + ", ".join(keys)

    def _expand(
        self, entity: Entity, rows: list[Record], options: QueryOptions, *, page: int | None
    ) -> None:
        for item in options.expand:
            nav = item.navigation
            target = ENTITIES[nav.target]
            for row in rows:
                if nav.kind is NavKind.SINGLE:
                    key = row.get(nav.local_column)
                    matches = nav.type_column is None or row.get(nav.type_column) == (
                        nav.customer_type
                    )
                    row[nav.name] = (
                        self.get(target, key, item.options, expand_page=page)
                        if matches and key
                        else None
                    )
                    continue
                where, params = self._where(target, item.options)
                link = f"{quote_ident(nav.remote_column)} = ?"
                args: list[Any] = [row[nav.local_column]]
                if nav.type_column is not None:
                    link += f" AND {nav.type_column} = ?"
                    args.append(nav.customer_type)
                where = f" WHERE {link}" + (f" AND {where[7:]}" if where else "")
                limit = item.options.top if item.options.top is not None else MAX_TOP
                if page is not None:
                    limit = page + 1
                sql = (
                    f"SELECT {_select_list(target)} FROM {target.set_name}{where}"  # noqa: S608
                    f"{self._order(target, item.options)} LIMIT ?"
                )
                children = [dict(r) for r in self._conn.execute(sql, (*args, *params, limit))]
                self._expand(target, children, item.options, page=page)
                row[nav.name] = children

    # -- writes --------------------------------------------------------------
    def insert(self, entity: Entity, values: Mapping[str, Any]) -> None:
        """Insert one row; `values` holds validated column names only."""
        columns = _known(entity, values)
        sql = (
            f"INSERT INTO {entity.set_name} ({', '.join(quote_ident(c) for c in columns)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        with self._lock:
            self._conn.execute(sql, [values[c] for c in columns])

    def update(self, entity: Entity, key: str, values: Mapping[str, Any]) -> bool:
        if not values:
            return self.get(entity, key) is not None
        assignments = ", ".join(f"{quote_ident(c)} = ?" for c in _known(entity, values))
        sql = f"UPDATE {entity.set_name} SET {assignments} WHERE {quote_ident(entity.key)} = ?"  # noqa: S608
        with self._lock:
            cursor = self._conn.execute(sql, [*values.values(), key])
        return cursor.rowcount > 0

    def delete(self, entity: Entity, key: str) -> bool:
        sql = f"DELETE FROM {entity.set_name} WHERE {quote_ident(entity.key)} = ?"  # noqa: S608
        with self._lock:
            cursor = self._conn.execute(sql, (key,))
        return cursor.rowcount > 0

    def bulk_insert(
        self, entity: Entity, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """executemany in one transaction (seeding and demo data)."""
        columns = _known(entity, columns)
        sql = (
            f"INSERT INTO {entity.set_name} ({', '.join(quote_ident(c) for c in columns)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany(sql, rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                name: int(self._conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0])  # noqa: S608
                for name in ENTITIES
            }


def _known(entity: Entity, names: Iterable[str]) -> list[str]:
    """Refuse any column name that is not part of the schema (defence in depth)."""
    allowed = set(entity.columns) | set(entity.hidden_columns)
    columns = list(names)
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        raise ValueError(f"unknown columns for {entity.set_name}: {unknown}")
    return columns
