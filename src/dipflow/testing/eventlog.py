"""Event logs as JSON, so a recorded call can be kept in a file and replayed in a test.

Test support over Layer 2 (engine); no product module imports it.

`[{"at": 0.0, "event": "CallStarted", "call_id": ..., ...}, ...]`: one object per
event, its type name under "event" and its fields beside it.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Sequence
from typing import Any

from dipflow.engine.events import (
    Event,
    HttpCompleted,
    HttpOutcome,
    VirtualAgentEnded,
    VirtualAgentOutcome,
)

EVENT_TYPES: dict[str, type[Any]] = {cls.__name__: cls for cls in typing.get_args(Event)}

EventLog = list[tuple[float, Event]]


def events_to_json(log: Sequence[tuple[float, Event]]) -> str:
    rows = []
    for at, event in log:
        fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
        rows.append({"at": at, "event": type(event).__name__, **fields})
    return json.dumps(rows, indent=1, default=str)


def events_from_json(text: str) -> EventLog:
    """The log written by `events_to_json`; `ValueError` for an unknown event type."""
    log: EventLog = []
    for row in json.loads(text):
        fields = dict(row)
        at = float(fields.pop("at"))
        name = fields.pop("event")
        cls = EVENT_TYPES.get(name)
        if cls is None:
            raise ValueError(f"unknown event type {name!r}")
        if cls is HttpCompleted:
            fields["outcome"] = HttpOutcome(fields["outcome"])
        elif cls is VirtualAgentEnded:
            fields["outcome"] = VirtualAgentOutcome(fields["outcome"])
        log.append((at, cls(**fields)))
    return log
