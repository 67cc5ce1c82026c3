"""Run flows without a phone: scripted caller, agent and CRM, and a fake clock.

Test support over Layer 2 (engine); no product module imports it.

```python
from dipflow.testing import HttpReply, answer, press, run_flow

result = run_flow(
    "ms-dynamics-data-dip",
    ani="+14155550123",
    http={"GetCustomerInfo": HttpReply(status=200, json={"value": [...]})},
    caller=[press("1", when="MainMenu")],
    agent=[answer(after=5, agent_id="a1", name="Ada")],
)
assert result.queued == ["CustomerCare"]
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dipflow.flow.model import Flow
from dipflow.testing.checks import ScriptError
from dipflow.testing.eventlog import events_from_json, events_to_json
from dipflow.testing.replay import replay
from dipflow.testing.scripts import (
    NEXT_MENU,
    AgentAction,
    BotOutcome,
    BotReply,
    CallerAction,
    HttpReply,
    HttpScripts,
    QueueStats,
    agent_hang_up,
    answer,
    callback_fail,
    hang_up,
    press,
    queue_fail,
    queue_update,
    speech_seconds,
)
from dipflow.testing.simulator import FlowSimulator, SimulationResult, load_flow


def run_flow(
    flow: Flow | str | Path,
    *,
    ani: str = "+14155550123",
    dnis: str = "+18005550100",
    http: HttpScripts | None = None,
    caller: Sequence[CallerAction] = (),
    agent: Sequence[AgentAction] = (),
    variables: Mapping[str, Any] | None = None,
    max_time: float = 600.0,
    call_id: str = "sim-call",
    queues: Mapping[str, str] | None = None,
    queue_stats: Mapping[str, QueueStats] | None = None,
    bots: Mapping[str, BotReply] | None = None,
    transfer_error: str | None = None,
    library: Mapping[str, Flow | str | Path] | None = None,
) -> SimulationResult:
    """Run one call of `flow` (a `Flow`, a file, or a bundled flow's name) to its end,
    or for `max_time` simulated seconds. `queues` maps queue ids to names (as the
    configuration would); `queue_stats` and `bots` answer queue lookups and virtual
    agents by activity id; `library` gives the flows Subflow and GoTo activities name."""
    simulator = FlowSimulator(
        flow,
        variables=dict(variables) if variables is not None else None,
        http=http,
        caller=caller,
        agent=agent,
        queues=queues,
        queue_stats=queue_stats,
        bots=bots,
        transfer_error=transfer_error,
        library=library,
    )
    simulator.start(ani=ani, dnis=dnis, call_id=call_id)
    return simulator.run(max_time)


__all__ = [
    "NEXT_MENU",
    "AgentAction",
    "BotOutcome",
    "BotReply",
    "CallerAction",
    "FlowSimulator",
    "HttpReply",
    "HttpScripts",
    "QueueStats",
    "ScriptError",
    "SimulationResult",
    "agent_hang_up",
    "answer",
    "callback_fail",
    "events_from_json",
    "events_to_json",
    "hang_up",
    "load_flow",
    "press",
    "queue_fail",
    "queue_update",
    "replay",
    "run_flow",
    "speech_seconds",
]
