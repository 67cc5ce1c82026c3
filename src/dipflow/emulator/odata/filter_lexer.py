"""Tokenizer for OData `$filter` expressions (OData 4.01 URL Conventions, §5.1.1).

The lexer knows literals (strings with `''` escaping, numbers, GUIDs, dates and
date-times, true/false/null), names, parentheses and commas. Operators such as
`eq` and `and` are names; the parser gives them meaning.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from dipflow.emulator.errors import bad_query


class Tok(Enum):
    NAME = "name"
    STRING = "string"
    NUMBER = "number"
    GUID = "guid"
    DATETIME = "datetime"
    DATE = "date"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    END = "end"


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    kind: Tok
    text: str
    """Raw text for names/numbers; the unescaped value for strings."""
    pos: int


_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
# re.ASCII: `\d` would otherwise also match Arabic-Indic and other Unicode digits.
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})", re.ASCII
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", re.ASCII)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_WORD_CHAR = re.compile(r"[A-Za-z0-9_]")

MAX_FILTER_LENGTH = 8192
"""Longer filters are refused: Dataverse's URL limit is 32 KB, ours need not be."""


def _ends_cleanly(text: str, end: int) -> bool:
    return end >= len(text) or not _WORD_CHAR.match(text[end])


def tokenize(text: str) -> list[Token]:
    """Split a `$filter` value into tokens; raise a 400 error on anything unknown."""
    if len(text) > MAX_FILTER_LENGTH:
        raise bad_query(f"The $filter expression is longer than {MAX_FILTER_LENGTH} characters.")
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch == "(":
            tokens.append(Token(kind=Tok.LPAREN, text=ch, pos=i))
            i += 1
            continue
        if ch == ")":
            tokens.append(Token(kind=Tok.RPAREN, text=ch, pos=i))
            i += 1
            continue
        if ch == ",":
            tokens.append(Token(kind=Tok.COMMA, text=ch, pos=i))
            i += 1
            continue
        if ch == "'":
            i = _string(text, i, tokens)
            continue
        for kind, pattern in ((Tok.GUID, _GUID), (Tok.DATETIME, _DATETIME), (Tok.DATE, _DATE)):
            m = pattern.match(text, i)
            if m and _ends_cleanly(text, m.end()):
                tokens.append(Token(kind=kind, text=m.group(), pos=i))
                i = m.end()
                break
        else:
            m = _NUMBER.match(text, i)
            if m and _ends_cleanly(text, m.end()):
                tokens.append(Token(kind=Tok.NUMBER, text=m.group(), pos=i))
                i = m.end()
                continue
            m = _NAME.match(text, i)
            if m:
                tokens.append(Token(kind=Tok.NAME, text=m.group(), pos=i))
                i = m.end()
                continue
            raise bad_query(f"Syntax error: character '{ch}' is not valid at position {i}.")
    tokens.append(Token(kind=Tok.END, text="", pos=n))
    return tokens


def _string(text: str, start: int, tokens: list[Token]) -> int:
    """Read a single-quoted literal; `''` inside stands for one quote."""
    i = start + 1
    parts: list[str] = []
    while True:
        end = text.find("'", i)
        if end < 0:
            raise bad_query(f"Syntax error: unterminated string literal at position {start}.")
        parts.append(text[i:end])
        if end + 1 < len(text) and text[end + 1] == "'":
            parts.append("'")
            i = end + 2
            continue
        tokens.append(Token(kind=Tok.STRING, text="".join(parts), pos=start))
        return end + 1
