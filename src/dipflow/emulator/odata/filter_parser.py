"""Recursive-descent parser for OData `$filter` (OData 4.01 URL Conventions §5.1.1).

Grammar (operator precedence from the spec: `not` > comparisons > `and` > `or`)::

    expr    := and_expr ("or" and_expr)*
    and_expr:= unary ("and" unary)*
    unary   := "not" unary | compare
    compare := primary (("eq"|"ne"|"gt"|"ge"|"lt"|"le") primary)?
    primary := "(" expr ")" | function "(" expr ("," expr)* ")" | literal | property

Depth and size are bounded so that a hostile filter gets a 400, never a
RecursionError or SQLite's "expression tree is too large".
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable

from dipflow.emulator.errors import bad_query
from dipflow.emulator.odata.filter_ast import (
    Call,
    Compare,
    CompareOp,
    Literal,
    LiteralKind,
    Logical,
    LogicalOp,
    Node,
    Not,
    Property,
    StringFunction,
)
from dipflow.emulator.odata.filter_lexer import Tok, Token, tokenize

MAX_DEPTH = 64
MAX_NODES = 400

_COMPARE_OPS = {op.value: op for op in CompareOp}
_FUNCTIONS = {f.value: f for f in StringFunction}


def parse_filter(text: str) -> Node:
    """Parse a `$filter` value into an AST, or raise a 400 `ODataError`."""
    parser = _Parser(tokenize(text))
    node = parser.expression()
    parser.expect(Tok.END, "end of expression")
    return node


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._i = 0
        self._depth = 0
        self._nodes = 0

    # -- helpers -----------------------------------------------------------
    def _peek(self) -> Token:
        return self._tokens[self._i]

    def _advance(self) -> Token:
        tok = self._tokens[self._i]
        if tok.kind is not Tok.END:
            self._i += 1
        return tok

    def _is_keyword(self, word: str) -> bool:
        tok = self._peek()
        return tok.kind is Tok.NAME and tok.text == word

    def expect(self, kind: Tok, what: str) -> Token:
        tok = self._peek()
        if tok.kind is not kind:
            found = tok.text or "end of input"
            raise bad_query(
                f"Syntax error at position {tok.pos}: expected {what}, found '{found}'."
            )
        return self._advance()

    def _count(self, node: Node) -> Node:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise bad_query(f"The $filter expression has more than {MAX_NODES} terms.")
        return node

    # -- grammar -----------------------------------------------------------
    def expression(self) -> Node:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise bad_query(f"The $filter expression is nested deeper than {MAX_DEPTH} levels.")
        try:
            return self._logical(LogicalOp.OR, self._and)
        finally:
            self._depth -= 1

    def _and(self) -> Node:
        return self._logical(LogicalOp.AND, self._unary)

    def _logical(self, op: LogicalOp, operand: Callable[[], Node]) -> Node:
        operands = [operand()]
        while self._is_keyword(op.value):
            self._advance()
            operands.append(operand())
        if len(operands) == 1:
            return operands[0]
        return self._count(Logical(op=op, operands=tuple(operands)))

    def _unary(self) -> Node:
        if self._is_keyword("not"):
            self._advance()
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise bad_query("The $filter expression nests 'not' too deeply.")
            try:
                return self._count(Not(operand=self._unary()))
            finally:
                self._depth -= 1
        return self._compare()

    def _compare(self) -> Node:
        left = self._primary()
        tok = self._peek()
        if tok.kind is Tok.NAME and tok.text in _COMPARE_OPS:
            self._advance()
            right = self._primary()
            return self._count(Compare(op=_COMPARE_OPS[tok.text], left=left, right=right))
        return left

    def _primary(self) -> Node:
        tok = self._advance()
        if tok.kind is Tok.LPAREN:
            node = self.expression()
            self.expect(Tok.RPAREN, "')'")
            return node
        if tok.kind is Tok.STRING:
            return self._count(Literal(kind=LiteralKind.STRING, value=tok.text))
        if tok.kind is Tok.NUMBER:
            return self._count(Literal(kind=LiteralKind.NUMBER, value=_number(tok)))
        if tok.kind is Tok.GUID:
            return self._count(Literal(kind=LiteralKind.GUID, value=tok.text.lower()))
        if tok.kind in (Tok.DATETIME, Tok.DATE):
            return self._count(Literal(kind=LiteralKind.DATETIME, value=tok.text))
        if tok.kind is Tok.NAME:
            return self._name(tok)
        found = tok.text or "end of input"
        raise bad_query(f"Syntax error at position {tok.pos}: unexpected '{found}'.")

    def _name(self, tok: Token) -> Node:
        word = tok.text
        if word == "true" or word == "false":
            return self._count(Literal(kind=LiteralKind.BOOL, value=word == "true"))
        if word == "null":
            return self._count(Literal(kind=LiteralKind.NULL, value=None))
        if self._peek().kind is Tok.LPAREN:
            function = _FUNCTIONS.get(word)
            if function is None:
                raise bad_query(
                    f"Syntax error at position {tok.pos}: unknown function '{word}'. "
                    "Supported: contains, startswith, endswith."
                )
            self._advance()
            args = [self.expression()]
            while self._peek().kind is Tok.COMMA:
                self._advance()
                args.append(self.expression())
            self.expect(Tok.RPAREN, "')'")
            if len(args) != 2:
                raise bad_query(f"The function '{word}' takes 2 arguments, got {len(args)}.")
            return self._count(Call(function=function, args=tuple(args)))
        if word in _COMPARE_OPS or word in ("and", "or", "not"):
            raise bad_query(f"Syntax error at position {tok.pos}: unexpected operator '{word}'.")
        if "." in word:
            raise bad_query(
                f"Syntax error at position {tok.pos}: '{word}' is not supported by the emulator."
            )
        return self._count(Property(name=word))


def _number(tok: Token) -> int | float:
    text = tok.text
    if any(c in text for c in ".eE"):
        value = float(text)
        if value != value or value in (float("inf"), float("-inf")):
            raise bad_query(f"Number out of range at position {tok.pos}.")
        return value
    number = int(text)
    if not -(2**63) <= number < 2**63:
        raise bad_query(f"Number out of range at position {tok.pos}.")
    return number
