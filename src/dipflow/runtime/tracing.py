"""Views of a call's engine state for people: trace entries as dicts with secrets masked,
the IVR path, agent-visible data, and the one JSON form of a trace (`trace_records`) that
`dipflow call --json` prints and the supervisor's trace view shows. Layer 5 (runtime).

The engine already leaves secure variables out of its trace; the runtime masks
again (by value) because a secure value can travel into another variable or a
URL, and a supervisor page is the wrong place to learn that the hard way.
A state of None is a call whose engine has not started yet: every view is empty.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dipflow.engine.state import CallState, TraceEntry
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

    def secure_values(self, state: CallState | None) -> list[str]:
        if state is None:
            return []
        values = []
        for name, value in state.variables.items():
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

    def entries(self, state: CallState | None) -> tuple[dict[str, Any], ...]:
        if state is None:
            return ()
        secrets = self.secure_values(state)
        return tuple(self.mask(_as_dict(e), secrets) for e in state.trace)

    def path(self, state: CallState | None) -> tuple[str, ...]:
        path: list[str] = []
        for entry in state.trace if state is not None else ():
            if not path or path[-1] != entry.activity:
                path.append(entry.activity)
        return tuple(path)

    def hit_global_error(self, state: CallState | None) -> bool:
        return state is not None and any(e.flow in _ERROR_FLOWS for e in state.trace)

    def agent_data(self, state: CallState | None) -> dict[str, str]:
        if state is None:
            return {}
        data = {}
        for name, label in self._visible:
            value = state.variables.get(name)
            if value is not None and value != "":
                data[label] = str(value)
        return data


def _as_dict(entry: TraceEntry) -> dict[str, Any]:
    # Shallow, one level of dict/list copied: `asdict`'s deep copy of every entry of
    # every call was the runtime's main cost at a thousand calls.
    return {f.name: _copy_shallow(getattr(entry, f.name)) for f in dataclasses.fields(entry)}


def _copy_shallow(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


TRACE_FIELDS = (
    "flow",
    "activity",
    "kind",
    "at_s",
    "took_s",
    "started_at",
    "ended_at",
    "inputs",
    "outputs",
    "output_taken",
    "error",
)
"""The keys of one trace record, in this order."""


def trace_records(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A call's trace (as `TraceView.entries` gives it) in the form people read it: one
    record per activity run, in order, with `TRACE_FIELDS`.

    `at_s` is when the activity started, in seconds since the call's first activity;
    `took_s` how long it ran (None while it still runs: a menu waiting for keys).
    `started_at`/`ended_at` are on the engine's clock (the event loop's for a live call,
    the simulator's for `--fast`). Values are made JSON-safe: a value JSON cannot carry
    (a date, a set, NaN) becomes its text, so neither `json.dumps` nor a browser's
    `JSON.parse` fails on a CRM's odd answer.
    """
    origin = float(entries[0].get("started_at") or 0.0) if entries else 0.0
    records = []
    for entry in entries:
        started = entry.get("started_at")
        ended = entry.get("ended_at")
        record = {
            "flow": entry.get("flow"),
            "activity": entry.get("activity"),
            "kind": entry.get("kind"),
            "at_s": _seconds(started, origin),
            "took_s": _seconds(ended, started),
            "started_at": started,
            "ended_at": ended,
            "inputs": _json_safe(entry.get("inputs") or {}),
            "outputs": _json_safe(entry.get("outputs") or {}),
            "output_taken": entry.get("output_taken"),
            "error": entry.get("error"),
        }
        records.append(record)
    return records


def global_error_detail(records: Sequence[Mapping[str, Any]], hit: bool) -> dict[str, Any] | None:
    """Where the call went through the global error handler (flow, activity, error), from
    the handler's own trace record; None when it did not. `hit` says it did even when no
    record names it (the engine's built-in handler)."""
    for record in records:
        if record.get("kind") == "global_error":
            return {
                "flow": record.get("flow"),
                "activity": record.get("activity"),
                "error": record.get("error"),
            }
    return {"flow": None, "activity": None, "error": None} if hit else None


def _seconds(later: Any, earlier: Any) -> float | None:
    if not isinstance(later, int | float) or not isinstance(earlier, int | float):
        return None
    return round(float(later) - float(earlier), 3)


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return str(value)
