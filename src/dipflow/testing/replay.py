"""Replay a recorded event log through the engine (the determinism check).

Test support over Layer 2 (engine); no product module imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dipflow.engine import CallState, Engine
from dipflow.engine.commands import Command
from dipflow.engine.events import CallStarted, Event
from dipflow.flow.model import Flow
from dipflow.testing.simulator import load_flow


def replay(
    flow: Flow | str | Path,
    event_log: Sequence[tuple[float, Event]],
    *,
    variables: Mapping[str, Any] | None = None,
    queues: Mapping[str, str] | None = None,
) -> list[Command]:
    """Every command the engine gives for `event_log` (first event: `CallStarted`);
    `queues` maps queue ids as the recorded call's deployment did."""
    if not event_log or not isinstance(event_log[0][1], CallStarted):
        raise ValueError("an event log starts with CallStarted")
    engine = Engine(load_flow(flow), variables=variables, queues=queues)
    now, first = event_log[0]
    assert isinstance(first, CallStarted)
    state: CallState
    state, commands = engine.start(first, now)
    out = list(commands)
    for now, event in event_log[1:]:
        state, commands = engine.step(state, event, now)
        out.extend(commands)
    return out
