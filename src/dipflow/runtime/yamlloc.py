"""Load YAML keeping where each value came from, to point errors at file:line:col.

A small helper of our own (the flow package's `yamlsource` may offer the same;
the runtime keeps this one so configuration loading does not wait on it). It
composes the YAML node tree once, builds the plain Python data from it, and
answers "where is `web.port`?" by walking the nodes along a pydantic error path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    path: str
    line: int
    """1-based."""
    column: int
    """1-based."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class YamlSourceError(ValueError):
    """The file is not valid YAML (or not a mapping at the top)."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class LocatedYaml:
    data: Any
    root: yaml.Node | None
    path: str

    def locate(self, loc: Sequence[int | str], *, key: bool = False) -> Location:
        """The position of the deepest node along `loc` (a pydantic error location);
        with `key`, of the mapping key itself (for "unknown key" problems)."""
        node = self.root
        best = node
        for index, part in enumerate(loc):
            last = index == len(loc) - 1
            child = _child(node, part, key=key and last)
            if child is None:
                break
            node = child
            best = child
        if best is None:
            return Location(path=self.path, line=1, column=1)
        mark = best.start_mark
        return Location(path=self.path, line=mark.line + 1, column=mark.column + 1)


def _child(node: yaml.Node | None, part: int | str, *, key: bool = False) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        pairs: list[tuple[yaml.Node, yaml.Node]] = node.value
        for key_node, value in pairs:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                return key_node if key else value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        items: list[yaml.Node] = node.value
        return items[part] if 0 <= part < len(items) else None
    return None


def load_located(text: str, *, path: str) -> LocatedYaml:
    """Parse `text`; raise `YamlSourceError` with the position of a syntax error."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        column = mark.column + 1 if mark is not None else 1
        raise YamlSourceError(
            Location(path=path, line=line, column=column), str(exc.problem or exc)
        ) from exc
    except yaml.YAMLError as exc:
        raise YamlSourceError(Location(path=path, line=1, column=1), str(exc)) from exc
    return LocatedYaml(data=data, root=root, path=path)


def load_located_file(path: Path) -> LocatedYaml:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlSourceError(Location(path=str(path), line=1, column=1), str(exc)) from exc
    return load_located(text, path=str(path))
