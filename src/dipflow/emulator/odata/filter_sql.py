"""Translate a `$filter` AST into a parametrised SQLite WHERE clause.

Column names come from `dipflow.emulator.schema` (never from the request) and
every value is a bound parameter, so no request text is ever spliced into SQL.
Types are checked the way Dataverse checks them: comparing a string column with
a number is a 400, as it is on the real service.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

from dipflow.emulator.errors import bad_query, unknown_property
from dipflow.emulator.odata.filter_ast import (
    Call,
    Compare,
    CompareOp,
    Literal,
    LiteralKind,
    Logical,
    Node,
    Not,
    Property,
    StringFunction,
)
from dipflow.emulator.odata.like import needs_matcher
from dipflow.emulator.odata.values import normalize_datetime, normalize_guid
from dipflow.emulator.schema import Column, ColumnType, Entity

_SQL_OPS = {
    CompareOp.EQ: "=",
    CompareOp.NE: "<>",
    CompareOp.GT: ">",
    CompareOp.GE: ">=",
    CompareOp.LT: "<",
    CompareOp.LE: "<=",
}

_EDM_OF_LITERAL = {
    LiteralKind.STRING: "Edm.String",
    LiteralKind.NUMBER: "Edm.Int32",
    LiteralKind.GUID: "Edm.Guid",
    LiteralKind.DATETIME: "Edm.DateTimeOffset",
    LiteralKind.BOOL: "Edm.Boolean",
    LiteralKind.NULL: "null",
}

SqlParam = str | int | float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SqlFragment:
    sql: str
    params: tuple[SqlParam, ...]


def compile_filter(node: Node, entity: Entity) -> SqlFragment:
    params: list[SqlParam] = []
    sql = _Compiler(entity, params).predicate(node)
    return SqlFragment(sql=sql, params=tuple(params))


def quote_ident(name: str) -> str:
    """Quote a schema-defined identifier (only ever called with names from the schema)."""
    return '"' + name.replace('"', '""') + '"'


class _Compiler:
    def __init__(self, entity: Entity, params: list[SqlParam]) -> None:
        self._entity = entity
        self._params = params

    def _column(self, prop: Property) -> Column:
        column = self._entity.column(prop.name)
        if column is None:
            raise unknown_property(prop.name, self._entity.logical_name)
        return column

    def _bind(self, value: SqlParam) -> str:
        self._params.append(value)
        return "?"

    def predicate(self, node: Node) -> str:
        if isinstance(node, Logical):
            joiner = f" {node.op.value.upper()} "
            return "(" + joiner.join(self.predicate(o) for o in node.operands) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.predicate(node.operand)})"
        if isinstance(node, Compare):
            return self._compare(node)
        if isinstance(node, Call):
            return self._call(node)
        if isinstance(node, Literal) and node.kind is LiteralKind.BOOL:
            return "(1=1)" if node.value else "(1=0)"
        raise bad_query("The $filter expression must be a condition (true or false).")

    def _call(self, call: Call) -> str:
        target, pattern = call.args
        if not isinstance(target, Property):
            raise bad_query(f"The first argument of {call.function.value} must be a property.")
        column = self._column(target)
        if column.type is not ColumnType.STRING:
            raise bad_query(
                f"{call.function.value} needs an Edm.String property; "
                f"'{column.name}' is {column.type.value}."
            )
        if not isinstance(pattern, Literal) or pattern.kind is not LiteralKind.STRING:
            raise bad_query(f"The second argument of {call.function.value} must be a string.")
        # T-SQL LIKE semantics, as on Dataverse: % _ [set] [^set] are wildcards.
        text = str(pattern.value)
        if call.function is StringFunction.CONTAINS:
            like = f"%{text}%"
        elif call.function is StringFunction.STARTSWITH:
            like = f"{text}%"
        else:
            like = f"%{text}"
        column_sql = quote_ident(column.name)
        if needs_matcher(like):
            return f"(tsql_like({self._bind(like)}, {column_sql}) = 1)"
        # No ESCAPE clause: in T-SQL as in SQLite a backslash is an ordinary character.
        return f"({column_sql} LIKE {self._bind(like)})"

    def _compare(self, node: Compare) -> str:
        op = node.op
        left, right = node.left, node.right
        if isinstance(left, Call) or isinstance(right, Call):
            return self._compare_bool(node)
        if isinstance(left, Literal) and isinstance(right, Property):
            # `'x' eq name` means `name eq 'x'`; flip the order operators accordingly.
            flipped = {CompareOp.GT: CompareOp.LT, CompareOp.GE: CompareOp.LE}
            flipped |= {v: k for k, v in flipped.items()}
            left, right, op = right, left, flipped.get(op, op)
        if not isinstance(left, Property):
            raise bad_query("A comparison needs a property on one side.")
        column = self._column(left)
        lhs = quote_ident(column.name)
        if isinstance(right, Property):
            other = self._column(right)
            if _family(other.type) != _family(column.type):
                raise _incompatible(column.type.value, other.type.value, op)
            return f"({lhs} {_SQL_OPS[op]} {quote_ident(other.name)})"
        if not isinstance(right, Literal):
            raise bad_query("A comparison needs a value on its right-hand side.")
        if right.kind is LiteralKind.NULL:
            if op is CompareOp.EQ:
                return f"({lhs} IS NULL)"
            if op is CompareOp.NE:
                return f"({lhs} IS NOT NULL)"
            raise bad_query(f"The operator '{op.value}' cannot compare with null.")
        value = _coerce(column, right, op)
        return f"({lhs} {_SQL_OPS[op]} {self._bind(value)})"

    def _compare_bool(self, node: Compare) -> str:
        call, other = (
            (node.left, node.right)
            if isinstance(node.left, Call)
            else (
                node.right,
                node.left,
            )
        )
        if (
            not isinstance(call, Call)
            or not isinstance(other, Literal)
            or other.kind is not LiteralKind.BOOL
            or node.op not in (CompareOp.EQ, CompareOp.NE)
        ):
            raise bad_query("A function result can only be compared with true or false.")
        wanted = bool(other.value) == (node.op is CompareOp.EQ)
        inner = self._call(call)
        return inner if wanted else f"(NOT {inner})"


def _family(kind: ColumnType) -> str:
    return "number" if kind in (ColumnType.INT, ColumnType.BIGINT) else kind.value


def _incompatible(left: str, right: str, op: CompareOp) -> Exception:
    return bad_query(
        "A binary operator with incompatible types was detected. "
        f"Found operand types '{left}' and '{right}' for operator kind '{op.value}'."
    )


def _coerce(column: Column, literal: Literal, op: CompareOp) -> SqlParam:
    kind = literal.kind
    value = literal.value
    if column.type is ColumnType.STRING and kind is LiteralKind.STRING:
        return str(value)
    # A quoted GUID is an Edm.String: Dataverse refuses `_customerid_value eq '<guid>'`
    # with "incompatible types", so the emulator does too (only the bare literal works).
    if column.type is ColumnType.GUID and kind is LiteralKind.GUID:
        return normalize_guid(str(value))
    if column.type in (ColumnType.INT, ColumnType.BIGINT) and kind is LiteralKind.NUMBER:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    if column.type is ColumnType.DATETIME and kind is LiteralKind.DATETIME:
        return normalize_datetime(str(value))
    raise _incompatible(column.type.value, _EDM_OF_LITERAL[kind], op)
