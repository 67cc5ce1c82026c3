"""T-SQL LIKE patterns, as Dataverse applies them inside contains/startswith/endswith.

Dataverse passes the string of `contains(name,'...')` to SQL Server's LIKE, so
`%`, `_`, `[abc]`, `[a-f]` and `[^abc]` are wildcards there (Microsoft Learn,
"Filter rows using OData: Use wildcard characters"). SQLite's LIKE knows `%` and
`_` only; patterns with brackets are matched by this module, registered in
SQLite as the function `tsql_like(pattern, value)`.

The matcher is the two-pointer wildcard algorithm (worst case O(len(pattern) ×
len(value)), no backtracking explosion), not a regex: a hostile pattern such as
`%a%a%a%a%a%b` must not be able to stall the server.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class _Class:
    members: frozenset[str]
    ranges: tuple[tuple[str, str], ...]
    negate: bool

    def matches(self, ch: str) -> bool:
        inside = ch in self.members or any(lo <= ch <= hi for lo, hi in self.ranges)
        return inside != self.negate


_ANY_RUN = "%"
_ANY_ONE = "_"
_Token = str | _Class
"""`%`, `_`, a one-character literal (lower-cased), or a bracket class."""


def needs_matcher(pattern: str) -> bool:
    """Whether SQLite's LIKE cannot do this match: bracket classes, or non-ASCII text
    (SQLite folds case for ASCII only; SQL Server's default collation folds all)."""
    return "[" in pattern or not pattern.isascii()


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "%":
            if not tokens or tokens[-1] != _ANY_RUN:  # %% is %
                tokens.append(_ANY_RUN)
        elif ch == "_":
            tokens.append(_ANY_ONE)
        elif ch == "[" and (end := pattern.find("]", i + 1)) > i + 1:
            tokens.append(_char_class(pattern[i + 1 : end]))
            i = end
        else:
            tokens.append(ch.lower())
        i += 1
    return tuple(tokens)


def _char_class(body: str) -> _Class:
    negate = body.startswith("^") and len(body) > 1
    if negate:
        body = body[1:]
    members: set[str] = set()
    ranges: list[tuple[str, str]] = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            ranges.append((body[i].lower(), body[i + 2].lower()))
            i += 3
        else:
            members.add(body[i].lower())
            i += 1
    return _Class(members=frozenset(members), ranges=tuple(ranges), negate=negate)


def _one(token: _Token, ch: str) -> bool:
    if isinstance(token, _Class):
        return token.matches(ch)
    return token in (_ANY_ONE, ch)


def matches(pattern: str, value: str) -> bool:
    """Case-insensitive T-SQL LIKE match of the whole `value`."""
    tokens = compile_pattern(pattern)
    text = value.lower()
    i = j = 0
    star = -1
    mark = 0
    while i < len(text):
        if j < len(tokens) and tokens[j] == _ANY_RUN:
            star, mark = j, i
            j += 1
        elif j < len(tokens) and _one(tokens[j], text[i]):
            i += 1
            j += 1
        elif star >= 0:
            j = star + 1
            mark += 1
            i = mark
        else:
            return False
    while j < len(tokens) and tokens[j] == _ANY_RUN:
        j += 1
    return j == len(tokens)


def tsql_like(pattern: str | None, value: str | None) -> int | None:
    """SQLite user function: 1 if `value` matches, 0 if not, NULL for NULL input."""
    if pattern is None or value is None:
        return None
    return 1 if matches(pattern, value) else 0
