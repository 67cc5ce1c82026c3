"""`dipflow call --fast`: one call on the simulator's fake clock, the CRM for real.
Layer 7 (command line).

Timeouts (a menu's no-input, hold music with a duration, an HTTP budget) run on the
flow simulator's clock (`dipflow.testing.FlowSimulator`), so a path through three
no-inputs takes milliseconds instead of 45 seconds; the HTTP data dips still go to the
configured connectors (the in-process emulator without `--config`) through the same
connector code as a live call, retries and all. The caller and the contact center are
the simulator's: the caller presses `--press` keys at successive menus and hangs up
`--hold` seconds after being queued, or an agent answers (`--agent-answer`).

What differs from a live call: prompts last about 15 characters a second (no TTS), and
an HTTP answer arrives after the time the request really took, or after `--crm-latency`
when given (on the fake clock: the emulator is not slowed down).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from dipflow.connectors.registry import Connectors
from dipflow.engine.commands import HttpRequest, ScreenPop
from dipflow.engine.events import HttpCompleted, HttpOutcome
from dipflow.flow.loader import load_flow
from dipflow.runtime.config import DipflowConfig
from dipflow.runtime.flowpath import resolve_flow_path
from dipflow.runtime.session import StepRecord
from dipflow.runtime.tracing import TraceView
from dipflow.testing import NEXT_MENU, FlowSimulator, HttpReply, agent_hang_up, answer, press
from dipflow.testing.simulator import START_TIME, SimulationResult

_T = TypeVar("_T")


class _LoopThread:
    """An event loop in a thread, for the async connectors under the synchronous simulator."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


def _reply(completed: HttpCompleted, latency_s: float | None) -> HttpReply:
    delay = latency_s if latency_s is not None else completed.elapsed_ms / 1000.0
    match completed.outcome:
        case HttpOutcome.TIMEOUT:
            return HttpReply.timeout()
        case HttpOutcome.ERROR:
            return HttpReply(status=0, error=completed.error or "request failed", delay_s=delay)
        case HttpOutcome.SUCCESS:
            body = completed.body
            return HttpReply(
                status=completed.status or 200,
                json=None if isinstance(body, str) else body,
                text=body if isinstance(body, str) else None,
                headers=dict(completed.headers),
                delay_s=delay,
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class FastCall:
    result: SimulationResult
    steps: list[StepRecord]
    trace: tuple[dict[str, Any], ...]
    screen_pops: list[ScreenPop]


def run_fast(
    cfg: DipflowConfig,
    environ: Mapping[str, str],
    *,
    ani: str,
    dnis: str,
    presses: Sequence[str],
    agent_answer: bool,
    hold_s: float,
    start_time: float | None,
    variables: Mapping[str, str],
    latency_s: float | None,
    max_time: float,
    call_id: str = "call-1",
) -> FastCall:
    binding = cfg.binding_for(dnis)
    flow = load_flow(resolve_flow_path(binding.flow, cfg.base_dir))
    loop = _LoopThread()
    connectors = Connectors(cfg.connectors, environ=environ)
    try:

        def respond(request: HttpRequest) -> HttpReply:
            return _reply(loop.run(connectors.execute(request)), latency_s)

        simulator = FlowSimulator(
            flow,
            variables={**binding.variables, **variables},
            queues=binding.queues,
            http=respond,
            caller=[press(keys, when=NEXT_MENU) for keys in presses],
            # As `dipflow call --agent-answer` live: the agent answers, talks, hangs up.
            agent=[
                answer(after=0.2, agent_id=_first_agent(cfg), name="Agent"),
                agent_hang_up(after=0.4, agent_id=_first_agent(cfg)),
            ]
            if agent_answer
            else [],
            hang_up_in_queue_s=None if agent_answer else hold_s,
            start_time=start_time if start_time is not None else START_TIME,
        )
        simulator.start(ani=ani, dnis=dnis, call_id=call_id)
        result = simulator.run(max_time)
    finally:
        loop.run(connectors.aclose())
        loop.close()
    steps = [
        StepRecord(call_id=call_id, at=at, event=event, commands=commands)
        for at, event, commands in simulator.steps
    ]
    return FastCall(
        result=result,
        steps=steps,
        trace=TraceView(flow).entries(result.state),
        screen_pops=result.screen_pops,
    )


def _first_agent(cfg: DipflowConfig) -> str:
    return cfg.center.agents[0].agent_id if cfg.center.agents else "agent-1"
