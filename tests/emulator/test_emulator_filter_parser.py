"""The `$filter` tokenizer, parser and SQL translation, without HTTP."""

from __future__ import annotations

import pytest

from dipflow.emulator.errors import ODataError
from dipflow.emulator.odata.filter_ast import (
    Call,
    Compare,
    CompareOp,
    Literal,
    LiteralKind,
    Logical,
    LogicalOp,
    Not,
    Property,
    StringFunction,
)
from dipflow.emulator.odata.filter_lexer import Tok, tokenize
from dipflow.emulator.odata.filter_parser import parse_filter
from dipflow.emulator.odata.filter_sql import compile_filter
from dipflow.emulator.odata.like import matches
from dipflow.emulator.odata.options import split_top_level
from dipflow.emulator.schema import CONTACTS, INCIDENTS


def test_tokenizer_literals() -> None:
    kinds = [
        t.kind
        for t in tokenize(
            "a eq 'it''s' 12 1.5 2025-01-02 2025-01-02T03:04:05Z "
            "c0000000-0000-4000-8000-000000000001 null"
        )
    ]
    assert kinds == [
        Tok.NAME,
        Tok.NAME,
        Tok.STRING,
        Tok.NUMBER,
        Tok.NUMBER,
        Tok.DATE,
        Tok.DATETIME,
        Tok.GUID,
        Tok.NAME,
        Tok.END,
    ]
    assert tokenize("'it''s'")[0].text == "it's"


def test_precedence_not_binds_tighter_than_and_than_or() -> None:
    tree = parse_filter("a eq 'x' or not b eq 'y' and c eq 'z'")
    assert tree == Logical(
        op=LogicalOp.OR,
        operands=(
            Compare(
                op=CompareOp.EQ,
                left=Property(name="a"),
                right=Literal(kind=LiteralKind.STRING, value="x"),
            ),
            Logical(
                op=LogicalOp.AND,
                operands=(
                    Not(
                        operand=Compare(
                            op=CompareOp.EQ,
                            left=Property(name="b"),
                            right=Literal(kind=LiteralKind.STRING, value="y"),
                        )
                    ),
                    Compare(
                        op=CompareOp.EQ,
                        left=Property(name="c"),
                        right=Literal(kind=LiteralKind.STRING, value="z"),
                    ),
                ),
            ),
        ),
    )


def test_parentheses_and_functions() -> None:
    tree = parse_filter("(contains(fullname,'a') or startswith(fullname,'b')) and statecode eq 0")
    assert isinstance(tree, Logical) and tree.op is LogicalOp.AND
    inner = tree.operands[0]
    assert isinstance(inner, Logical) and inner.op is LogicalOp.OR
    assert inner.operands[0] == Call(
        function=StringFunction.CONTAINS,
        args=(Property(name="fullname"), Literal(kind=LiteralKind.STRING, value="a")),
    )


def test_sql_is_parametrised() -> None:
    fragment = compile_filter(
        parse_filter("fullname eq 'x'' OR 1=1 --' or telephone1 eq '1'"), CONTACTS
    )
    assert fragment.sql == '(("fullname" = ?) OR ("telephone1" = ?))'
    assert fragment.params == ("x' OR 1=1 --", "1")


def test_like_patterns_keep_tsql_wildcards() -> None:
    fragment = compile_filter(parse_filter(r"contains(fullname,'50%_\')"), CONTACTS)
    assert fragment.params == (r"%50%_\%",)
    assert fragment.sql == '("fullname" LIKE ?)'
    bracket = compile_filter(parse_filter("startswith(fullname,'[ab]')"), CONTACTS)
    assert bracket.sql == '(tsql_like(?, "fullname") = 1)'
    assert bracket.params == ("[ab]%",)


def test_values_are_normalised_for_storage() -> None:
    fragment = compile_filter(
        parse_filter(
            "createdon ge 2025-01-02T05:04:05+02:00 and "
            "_customerid_value eq C0000000-0000-4000-8000-00000000000A"
        ),
        INCIDENTS,
    )
    assert fragment.params == ("2025-01-02T03:04:05Z", "c0000000-0000-4000-8000-00000000000a")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a eq",
        "eq 'x'",
        "a eq 'x' b",
        "(a eq 'x'",
        "a eq 'x')",
        "foo(a,'b')",
        "a eq 'x' and or b eq 'y'",
        "a.b eq 1",
        "$x eq 1",
    ],
)
def test_syntax_errors_are_400(text: str) -> None:
    with pytest.raises(ODataError) as info:
        compile_filter(parse_filter(text), CONTACTS)
    assert info.value.status == 400


def test_split_top_level_respects_quotes_and_parentheses() -> None:
    assert split_top_level("a,b(c,d),'e,f'", ",") == ["a", "b(c,d)", "'e,f'"]
    assert split_top_level("$filter=x eq 'a;b';$top=1", ";") == ["$filter=x eq 'a;b'", "$top=1"]


def test_unicode_digits_are_not_numbers() -> None:
    with pytest.raises(ODataError):
        parse_filter("statecode eq \u0663")  # ARABIC-INDIC DIGIT THREE


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("%abc%", "xxABCxx", True),
        ("a_c", "abc", True),
        ("a_c", "abbc", False),
        ("[a-c]x", "Bx", True),
        ("[^a-c]x", "bx", False),
        ("[^a-c]x", "dx", True),
        ("50[%]", "50%", True),
        ("50[%]", "500", False),
        ("[_]x", "_x", True),
        ("[", "[", True),
        ("%ÉTÉ%", "un été chaud", True),
        ("", "", True),
        ("%", "", True),
    ],
)
def test_tsql_like_matcher(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


def test_tsql_like_matcher_has_no_catastrophic_backtracking() -> None:
    import time

    started = time.perf_counter()
    assert not matches("%a%a%a%a%a%a%a%a%a%a%b", "a" * 4000)
    assert time.perf_counter() - started < 1.0
