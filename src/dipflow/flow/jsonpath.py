"""JSONPath for HTTP response parsing (`$.value[0].fullname`, `value[0].fullname`). Layer 1 (flow).

Webex's HTTP Request activity writes JSONPath without the root (`value[0].title`);
RFC 9535 requires `$`. Both are accepted: a path that does not start with `$`
gets `$.` (or `$` before a bracket) put in front, then python-jsonpath compiles
it (RFC 9535 syntax plus the library's extensions). Compiled paths are cached.

Webex evaluates paths with Jayway JsonPath, which also takes a dot before a bracket
(`$.guest.[0].short`, as Flow Designer users write it); RFC 9535 does not, so that
dot is dropped (`$.guest[0].short`). `..[` (recursive descent) is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonpath as _jsonpath

from dipflow.flow.errors import FlowError, Problem


class JsonPathError(FlowError, ValueError):
    """A JSONPath that does not compile; `path` is the text as written."""

    def __init__(self, message: str, *, path: str) -> None:
        self.message = message
        self.path = path
        super().__init__([Problem(file="<jsonpath>", message=message)])

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledPath:
    path: str
    """As written in the flow."""
    normalized: str
    """With the `$` root, as compiled."""
    _compiled: Any

    def extract(self, document: Any) -> Any:
        """The first value the path selects, or None when it selects nothing."""
        try:
            match = self._compiled.match(document)
        except _jsonpath.JSONPathError:
            return None
        return None if match is None else match.obj

    def find_all(self, document: Any) -> list[Any]:
        """Every value the path selects, in document order."""
        try:
            return list(self._compiled.findall(document))
        except _jsonpath.JSONPathError:
            return []


_DOT_BRACKET = re.compile(r"(?<!\.)\.\[")


def normalize(path: str) -> str:
    """`value[0].x` -> `$.value[0].x`; `[0]` -> `$[0]`; `a.[0]` -> `a[0]`; `$...` unchanged."""
    text = _DOT_BRACKET.sub("[", path.strip())
    if text.startswith("$"):
        return text
    if text.startswith(("[", ".")):
        return "$" + text
    return "$." + text


@lru_cache(maxsize=1024)
def compile_path(path: str) -> CompiledPath:
    """Compile `path`; raise `JsonPathError` with the library's reason when it is invalid."""
    if not path.strip():
        raise JsonPathError("empty JSONPath", path=path)
    normalized = normalize(path)
    try:
        compiled = _jsonpath.compile(normalized)
    except _jsonpath.JSONPathError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise JsonPathError(f"invalid JSONPath {path!r}: {reason}", path=path) from exc
    except (ValueError, TypeError, RecursionError) as exc:
        raise JsonPathError(f"invalid JSONPath {path!r}: {exc}", path=path) from exc
    return CompiledPath(path=path, normalized=normalized, _compiled=compiled)


def extract(path: str, document: Any) -> Any:
    """The first value `path` selects in `document`, or None when nothing matches."""
    return compile_path(path).extract(document)
