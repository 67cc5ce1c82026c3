"""The configuration file as YAML with positions, on top of the flow package's parser.

`dipflow.flow.yamlsource` keeps the position of every value, refuses alias bombs
and reports duplicate keys; this module adapts it to the configuration loader:
a `Location` per pydantic error path, and duplicate keys as problems.
Layer 5 (runtime).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dipflow.flow.yamlsource import YamlDocument, YamlSyntaxError, parse_yaml
from dipflow.runtime.errors import DipflowRuntimeError


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    path: str
    line: int
    """1-based."""
    column: int
    """1-based."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class YamlSourceError(DipflowRuntimeError, ValueError):
    """The file cannot be read or is not valid YAML (`load_config` turns it into `ConfigError`)."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class LocatedYaml:
    document: YamlDocument
    path: str

    @property
    def data(self) -> Any:
        return self.document.data

    def locate(self, loc: Sequence[int | str], *, key: bool = False) -> Location:
        """Where the value at `loc` (a pydantic error location) is written; with `key`,
        where its key is (for "unknown key" problems)."""
        line, column = self.document.locate(loc, key=key)
        return Location(path=self.path, line=line, column=column)

    def duplicate_key_problems(self) -> list[str]:
        return [
            f"{self.path}:{dup.line}:{dup.column}: duplicate key {dup.key!r} "
            f"(first written on line {dup.first_line})"
            for dup in self.document.duplicate_keys
        ]


def load_located(text: str, *, path: str) -> LocatedYaml:
    try:
        document = parse_yaml(text, path)
    except YamlSyntaxError as exc:
        raise YamlSourceError(
            Location(path=path, line=exc.line, column=exc.column), exc.message
        ) from exc
    return LocatedYaml(document=document, path=path)


def load_located_file(path: Path) -> LocatedYaml:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlSourceError(Location(path=str(path), line=1, column=1), str(exc)) from exc
    return load_located(text, path=str(path))
