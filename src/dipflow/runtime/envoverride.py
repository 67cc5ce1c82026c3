"""Environment variables in configuration: `${NAME}` references and `DIPFLOW_*` overrides.

Two mechanisms, both applied to the raw YAML data before validation:

* `${NAME}` (or `${NAME:-default}`) inside any string value is replaced by the
  environment variable `NAME`; a missing variable without default is an error
  located at that value. This is how secrets stay out of the file.
* `DIPFLOW_<SECTION>__<KEY>[__<KEY>...]=value` sets one value, `__` separating
  levels (the pydantic-settings convention): `DIPFLOW_WEB__PORT=9000`,
  `DIPFLOW_WEB__SESSION_SECRET=...`. In a list, a level is an index or the
  `name` (or `username`) of an item: `DIPFLOW_CONNECTORS__DYNAMICS__CLIENT_SECRET=...`.
  Values are parsed as YAML scalars (`9000` is a number, `true` a boolean, `null` null).
Layer 5 (runtime).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from dipflow.runtime.errors import DipflowRuntimeError

ENV_PREFIX = "DIPFLOW_"
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Variables of the process itself, not configuration overrides.
_NOT_OVERRIDES = frozenset({"DIPFLOW_CONFIG", "DIPFLOW_LOG_LEVEL", "DIPFLOW_LOG_JSON"})


class EnvError(DipflowRuntimeError, ValueError):
    """A `${NAME}` or `DIPFLOW_*` override that cannot apply (the loader makes it a located
    `ConfigError`)."""

    def __init__(self, loc: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def substitute_references(
    data: Any, environ: Mapping[str, str], loc: tuple[int | str, ...] = ()
) -> Any:
    """Replace `${NAME}` in every string of `data` (a new structure; `data` is untouched)."""
    if isinstance(data, dict):
        return {k: substitute_references(v, environ, (*loc, str(k))) for k, v in data.items()}
    if isinstance(data, list):
        return [substitute_references(v, environ, (*loc, i)) for i, v in enumerate(data)]
    if isinstance(data, str) and "${" in data:

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise EnvError(loc, f"environment variable {name} is not set")

        return _REFERENCE.sub(replace, data)
    return data


def _parse_scalar(text: str) -> Any:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    # Only scalars: an override never injects a structure by accident.
    return value if isinstance(value, str | int | float | bool) or value is None else text


def apply_overrides(
    data: dict[str, Any],
    environ: Mapping[str, str],
    *,
    sections: frozenset[str],
    applied: dict[tuple[int | str, ...], str] | None = None,
) -> dict[str, Any]:
    """Apply `DIPFLOW_A__B=value` overrides (sorted, so the result does not depend on env order).

    Only variables whose first level names one of `sections` (the top-level keys of the
    configuration) are overrides; other `DIPFLOW_*` variables belong to someone else.
    """
    for key in sorted(environ):
        if not key.startswith(ENV_PREFIX) or key in _NOT_OVERRIDES:
            continue
        parts = [p.lower() for p in key[len(ENV_PREFIX) :].split("__")]
        if not parts or any(not p for p in parts) or parts[0] not in sections:
            continue
        loc = _set_path(data, parts, _parse_scalar(environ[key]), key)
        if applied is not None:
            applied[loc] = key
    return data


def _set_path(
    data: dict[str, Any], parts: list[str], value: Any, env_key: str
) -> tuple[int | str, ...]:
    node: Any = data
    loc: list[int | str] = []
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, dict):
            loc.append(part)
            if last:
                node[part] = value
                return tuple(loc)
            child = node.get(part)
            if child is None:
                child = {}
                node[part] = child
            node = child
        elif isinstance(node, list):
            index = _list_index(node, part)
            if index is None:
                raise EnvError((), f"{env_key}: no list item {part!r} to override")
            loc.append(index)
            if last:
                node[index] = value
                return tuple(loc)
            node = node[index]
        else:
            raise EnvError((), f"{env_key}: cannot set {part!r} inside a plain value")
    return tuple(loc)


def _list_index(items: list[Any], part: str) -> int | None:
    if part.isdigit():
        index = int(part)
        return index if index < len(items) else None
    for index, item in enumerate(items):
        if isinstance(item, dict):
            for field in ("name", "username", "id"):
                if str(item.get(field, "")).lower() == part:
                    return index
    return None
