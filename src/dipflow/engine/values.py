"""Value helpers of the engine: typed conversion, masking of secrets, URL building.

Layer 2 (engine).

Pure functions; the engine calls them inside its activity guard, so a
`ValueError` here becomes the activity's `error` output.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from dipflow.flow.model import Variable, VariableType

MASK = "***"

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", "", "none", "null"})


def to_bool(value: Any) -> bool:
    """A condition's result: booleans as is, Webex-style strings "true"/"false"."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"not a boolean: {value!r}")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value.strip())
    raise ValueError(f"not an integer: {value!r}")


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"not a decimal: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise ValueError(f"not a decimal: {value!r}")


def _to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _to_datetime(value: Any) -> str:
    text = _to_string(value).strip()
    if text:
        # Validates; stored as the ISO text so the state stays JSON.
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    return text


def _to_json(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value) if value.strip() else None
    return value


_CONVERTERS: dict[VariableType, Callable[[Any], Any]] = {
    VariableType.STRING: _to_string,
    VariableType.INTEGER: _to_int,
    VariableType.DECIMAL: _to_float,
    VariableType.BOOLEAN: to_bool,
    VariableType.DATETIME: _to_datetime,
    VariableType.JSON: _to_json,
}


def convert(value: Any, type_: VariableType) -> Any:
    """`value` as a variable of `type_`; `ValueError` when it cannot be one."""
    try:
        return _CONVERTERS[type_](value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot convert {value!r} to {type_.value}") from exc


def empty_value(variable: Variable | None) -> Any:
    """What a variable holds when a data dip found nothing: its default, else empty."""
    if variable is None:
        return ""
    if variable.default is not None:
        return convert(variable.default, variable.type)
    return "" if variable.type in (VariableType.STRING, VariableType.DATETIME) else None


def build_url(base: str, query: Mapping[str, str]) -> str:
    """`base` with `query` appended, encoded by urllib (caller data never pasted raw)."""
    if not query:
        return base
    separator = "&" if "?" in base else "?"
    if base.endswith(("?", "&")):
        separator = ""
    return base + separator + urlencode(dict(query))


def render_body(body: Any, render: Callable[[str], str]) -> Any:
    """Render every string of a JSON-like request body."""
    if isinstance(body, str):
        return render(body)
    if isinstance(body, dict):
        return {key: render_body(value, render) for key, value in body.items()}
    if isinstance(body, list):
        return [render_body(value, render) for value in body]
    return body


class Masker:
    """Replaces secure variables' values by "***" in trace inputs and outputs."""

    __slots__ = ("_names",)

    def __init__(self, secure_names: frozenset[str]) -> None:
        self._names = secure_names

    @property
    def active(self) -> bool:
        return bool(self._names)

    def mask(self, data: dict[str, Any], variables: Mapping[str, Any]) -> dict[str, Any]:
        if not self._names:
            return data
        secrets = [
            _to_string(variables[name])
            for name in self._names
            if name in variables and _to_string(variables[name])
        ]
        return {
            key: MASK if key in self._names else _scrub(value, secrets)
            for key, value in data.items()
        }


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secrets) for item in value]
    if secrets and _to_string(value) in secrets:
        return MASK
    return value


def cad(labels: tuple[tuple[str, str], ...], variables: Mapping[str, Any]) -> dict[str, str]:
    """Call-associated data for the desktop: agent-visible variables by label, as text."""
    return {label: _to_string(variables.get(name)) for name, label in labels}
