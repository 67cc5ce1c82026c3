"""Views of a call's engine state for people: trace entries as dicts with secrets masked,
the IVR path, agent-visible data.

The engine already leaves secure variables out of its trace; the runtime masks
again (by value) because a secure value can travel into another variable or a
URL, and a supervisor page is the wrong place to learn that the hard way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from dipflow.flow.model import EventName, Flow

MASK = "****"
_ERROR_FLOWS = frozenset({EventName.GLOBAL_ERROR.value, "default_error"})
"""The flow's global_error event flow, and the engine's built-in default handler."""
_MIN_MASKED_LEN = 3
"""Shorter secure values are not masked by value (masking "1" would garble every number)."""


class TraceView:
    def __init__(self, flow: Flow) -> None:
        self._secure = frozenset(v.name for v in flow.variables if v.secure)
        self._visible = [
            (v.name, v.desktop_label or v.name)
            for v in flow.variables
            if v.agent_visible and not v.secure
        ]
        self._global_error_ids = frozenset(
            flow.event_flows[EventName.GLOBAL_ERROR].activities
            if EventName.GLOBAL_ERROR in flow.event_flows
            else ()
        )

    # -- state access (tolerant: the state is the engine's, we only read it) -------------

    @staticmethod
    def variables(state: Any) -> dict[str, Any]:
        variables = getattr(state, "variables", None)
        return dict(variables) if isinstance(variables, dict) else {}

    @staticmethod
    def raw_trace(state: Any) -> list[Any]:
        trace = getattr(state, "trace", None)
        return list(trace) if isinstance(trace, list | tuple) else []

    def secure_values(self, state: Any) -> list[str]:
        values = []
        for name, value in self.variables(state).items():
            if name in self._secure and value is not None:
                text = str(value)
                if len(text) >= _MIN_MASKED_LEN:
                    values.append(text)
        return sorted(values, key=len, reverse=True)

    def mask(self, value: Any, secrets: Iterable[str]) -> Any:
        secrets = list(secrets)
        if not secrets:
            return value
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {
                k: (MASK if k in self._secure else self.mask(v, secrets)) for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.mask(v, secrets) for v in value]
        return value

    def entries(self, state: Any) -> tuple[dict[str, Any], ...]:
        secrets = self.secure_values(state)
        return tuple(self.mask(_as_dict(e), secrets) for e in self.raw_trace(state))

    def path(self, state: Any) -> tuple[str, ...]:
        path: list[str] = []
        for entry in self.raw_trace(state):
            activity = _field(entry, "activity_id") or _field(entry, "activity")
            if isinstance(activity, str) and (not path or path[-1] != activity):
                path.append(activity)
        return tuple(path)

    def hit_global_error(self, state: Any) -> bool:
        for entry in self.raw_trace(state):
            flow_name = _field(entry, "event_flow") or _field(entry, "flow")
            if flow_name in _ERROR_FLOWS:
                return True
        return False

    def agent_data(self, state: Any) -> dict[str, str]:
        variables = self.variables(state)
        data = {}
        for name, label in self._visible:
            value = variables.get(name)
            if value is not None and value != "":
                data[label] = str(value)
        return data


def _field(entry: Any, name: str) -> Any:
    if isinstance(entry, dict):
        return entry.get(name)
    return getattr(entry, name, None)


def _as_dict(entry: Any) -> dict[str, Any]:
    if isinstance(entry, dict):
        return dict(entry)
    to_dict = getattr(entry, "to_dict", None)
    if callable(to_dict):
        result = to_dict()
        if isinstance(result, dict):
            return result
    if dataclasses.is_dataclass(entry) and not isinstance(entry, type):
        # Shallow, one level of dict/list copied: `asdict`'s deep copy of every entry of
        # every call was the runtime's main cost at a thousand calls.
        return {f.name: _copy_shallow(getattr(entry, f.name)) for f in dataclasses.fields(entry)}
    model_dump = getattr(entry, "model_dump", None)
    if callable(model_dump):
        dumped = model_dump(mode="json")
        if isinstance(dumped, dict):
            return dumped
    return {"entry": str(entry)}


def _copy_shallow(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value
