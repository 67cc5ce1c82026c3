"""YAML (or JSON) with the position of every value, for file:line:col errors. Layer 1 (flow).

PyYAML composes a node tree whose nodes carry start marks; the Python data is
constructed from that same tree, so any path into the data (a pydantic error
`loc`, a key we check ourselves) maps back to a line and a column.

Two deliberate departures from plain `yaml.safe_load`:

- Mapping keys are kept as the text written. YAML 1.1 reads `on:`, `yes:`,
  `true:` as booleans and `1:` as an integer; a flow's `on: {true: a, 1: b}`
  means the strings "on", "true" and "1".
- Duplicate keys are reported (with both positions) instead of silently keeping
  the last one.

This module is generic: the runtime's configuration loader can use it as well.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from dipflow.flow import advice
from dipflow.flow.errors import FlowError, Problem

Loc = Sequence[int | str]
Position = tuple[int, int]
"""(line, column), both 1-based."""


class YamlSyntaxError(FlowError, ValueError):
    """The text is not valid YAML/JSON; `line` and `column` are 1-based.

    Its one problem prints as `file:line:col: message`."""

    def __init__(self, message: str, *, filename: str, line: int, column: int) -> None:
        self.message = message
        self.filename = filename
        self.line = line
        self.column = column
        super().__init__([Problem(file=filename, line=line, column=column, message=message)])


@dataclass(frozen=True, slots=True, kw_only=True)
class DuplicateKey:
    key: str
    path: tuple[int | str, ...]
    """Path of the mapping holding the key twice."""
    line: int
    column: int
    first_line: int


class _KeysAsWrittenLoader(yaml.SafeLoader):
    """SafeLoader that keeps scalar mapping keys as their source text."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key: Any = key_node.value
            else:
                key = self.construct_object(key_node, deep=deep)
                try:
                    hash(key)
                except TypeError:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        "found an unhashable key",
                        key_node.start_mark,
                    ) from None
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _position(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _child(node: yaml.Node, part: int | str) -> tuple[yaml.Node, yaml.Node] | None:
    """(key node or the item itself, value node) of `part` below `node`."""
    if isinstance(node, yaml.MappingNode):
        found: tuple[yaml.Node, yaml.Node] | None = None
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                found = (key, value)  # the last one wins, as in the data
        return found
    if (
        isinstance(node, yaml.SequenceNode)
        and isinstance(part, int)
        and 0 <= part < len(node.value)
    ):
        item = node.value[part]
        return item, item
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class YamlDocument:
    filename: str
    data: Any
    root: yaml.Node | None
    duplicate_keys: tuple[DuplicateKey, ...] = field(default=())

    def node(self, loc: Loc) -> yaml.Node | None:
        """The value node at `loc`, or None when the path leaves the document."""
        node = self.root
        for part in loc:
            if node is None:
                return None
            found = _child(node, part)
            node = found[1] if found is not None else None
        return node

    def locate(self, loc: Loc, *, key: bool = False) -> Position:
        """Position of the deepest node along `loc`; parts that match nothing are skipped.

        Skipping lets pydantic's extra parts (a union's tag, `function-after[...]`)
        pass. With `key=True` the position is the key of the last mapping entry
        (right for "unknown field" errors), otherwise its value.
        """
        if self.root is None:
            return 1, 1
        node: yaml.Node = self.root
        best = _position(node)
        for part in loc:
            found = _child(node, part)
            if found is None:
                continue
            key_node, node = found
            best = _position(key_node if key else node)
        return best


def _syntax_error(exc: yaml.YAMLError, filename: str, text: str) -> YamlSyntaxError:
    if isinstance(exc, yaml.MarkedYAMLError):
        plain = advice.yaml_advice(exc, text)
        if plain is not None:
            return YamlSyntaxError(
                plain.message, filename=filename, line=plain.line, column=plain.column
            )
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        column = mark.column + 1 if mark is not None else 1
        message = " ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
        return YamlSyntaxError(message, filename=filename, line=line, column=column)
    return YamlSyntaxError(str(exc), filename=filename, line=1, column=1)


def _duplicates(root: yaml.Node | None) -> tuple[DuplicateKey, ...]:
    found: list[DuplicateKey] = []

    def walk(node: yaml.Node, path: tuple[int | str, ...], seen_ids: set[int]) -> None:
        if id(node) in seen_ids:  # aliases may make the graph cyclic
            return
        seen_ids.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, yaml.Node] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in first and key.tag != "tag:yaml.org,2002:merge":
                        line, column = _position(key)
                        found.append(
                            DuplicateKey(
                                key=key.value,
                                path=path,
                                line=line,
                                column=column,
                                first_line=_position(first[key.value])[0],
                            )
                        )
                    first.setdefault(key.value, key)
                    walk(value, (*path, key.value), seen_ids)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index), seen_ids)

    if root is not None:
        walk(root, (), set())
    return tuple(found)


MAX_EXPANDED_VALUES = 1_000_000
"""More values than any real flow or configuration, once aliases are expanded."""


def _check_expansion(root: yaml.Node, filename: str) -> None:
    """Refuse alias bombs ("billion laughs") and recursive aliases before anyone walks the data.

    PyYAML shares aliased values instead of copying them, so loading is cheap, but
    anything that walks the result (validation, rendering, JSON) sees the full
    expansion. Sizes are memoized per node, so this check is linear in the text.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            line, column = _position(node)
            raise YamlSyntaxError(
                "recursive alias: a value contains itself",
                filename=filename,
                line=line,
                column=column,
            )
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        active.discard(key)
        sizes[key] = min(total, MAX_EXPANDED_VALUES + 1)
        return sizes[key]

    if size(root) > MAX_EXPANDED_VALUES:
        raise YamlSyntaxError(
            f"the document expands to more than {MAX_EXPANDED_VALUES} values (nested aliases)",
            filename=filename,
            line=1,
            column=1,
        )


def _looks_like_json(text: str, filename: str) -> bool:
    return filename.lower().endswith(".json") or text.lstrip().startswith(("{", "["))


def parse_yaml(text: str, filename: str) -> YamlDocument:
    """Parse YAML (JSON accepted); raise `YamlSyntaxError` at the offending position."""
    try:
        loader = _KeysAsWrittenLoader(text)
        try:
            root = loader.get_single_node()
            if root is not None:
                _check_expansion(root, filename)
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        if not _looks_like_json(text, filename):
            raise _syntax_error(exc, filename, text) from exc
        # JSON that YAML 1.1 refuses (tabs, `\/`): JSON's own parser has the better message.
        try:
            data = json.loads(text)
        except json.JSONDecodeError as json_exc:
            raise YamlSyntaxError(
                json_exc.msg, filename=filename, line=json_exc.lineno, column=json_exc.colno
            ) from json_exc
        return YamlDocument(filename=filename, data=data, root=None)
    except RecursionError as exc:
        raise YamlSyntaxError(
            "document nested too deeply", filename=filename, line=1, column=1
        ) from exc
    return YamlDocument(filename=filename, data=data, root=root, duplicate_keys=_duplicates(root))


def load_yaml_with_locations(text: str, filename: str) -> tuple[Any, Callable[[Loc], Position]]:
    """The data, and a function from a pydantic error `loc` to (line, column).

    Raises `YamlSyntaxError` when the text does not parse. See `parse_yaml` for
    the duplicate keys and the key-as-written rule.
    """
    document = parse_yaml(text, filename)
    return document.data, document.locate
