"""The syntax tree a `$filter` parses into.

Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class LiteralKind(Enum):
    STRING = "string"
    NUMBER = "number"
    GUID = "guid"
    DATETIME = "datetime"
    BOOL = "bool"
    NULL = "null"


class CompareOp(Enum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"


class LogicalOp(Enum):
    AND = "and"
    OR = "or"


class StringFunction(Enum):
    """The string functions Dataverse supports in `$filter`."""

    CONTAINS = "contains"
    STARTSWITH = "startswith"
    ENDSWITH = "endswith"


@dataclass(frozen=True, slots=True, kw_only=True)
class Literal:
    kind: LiteralKind
    value: str | int | float | bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Property:
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Compare:
    op: CompareOp
    left: Node
    right: Node


@dataclass(frozen=True, slots=True, kw_only=True)
class Logical:
    op: LogicalOp
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    function: StringFunction
    args: tuple[Node, ...]


Node = Literal | Property | Compare | Logical | Not | Call
