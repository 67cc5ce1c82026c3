"""Contact-center benchmark: many simultaneous simulated calls through the whole runtime.

    .venv/bin/python bench/center.py [--calls 1000] [--baseline 100] [--agents 50]

Every call runs the bundled `ms-dynamics-data-dip` flow: greeting, a REAL HTTP data
dip to the Dataverse emulator (started in this process on a loopback port, with
demo data and OAuth client credentials), the menu (the caller presses 1), the
queue, a simulated agent accepting through `runtime.agent_accept` (the desktop's
path), the screen pop, and the agent hanging up. The same run is repeated with
`--baseline` calls to show how the numbers scale (ratio big / small).

Measured: calls completed, lost calls (timed out, no agent, or through the global
error handler: must be 0), p50/p99 call start -> personalised greeting (the first
prompt after the CRM dip), p99 agent accept -> screen pop delivered, process CPU
seconds per call and peak RSS growth per call. The emulator shares the process
(and the GIL), so its CPU is included: an upper bound for the runtime's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

from dipflow.emulator.demo_data import DEMO_CALLERS
from dipflow.emulator.testing import RunningEmulator, running_emulator
from dipflow.engine.commands import Play
from dipflow.engine.events import HttpCompleted
from dipflow.runtime.demo import demo_config, demo_environ
from dipflow.runtime.runtime import Runtime
from dipflow.runtime.simcall import AutoAnswer, SimCallResult, make_agents_available, run_sim_call


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    calls: int
    completed: int
    lost: int
    peak_active: int
    greet_p50_ms: float
    greet_p99_ms: float
    dip_p50_ms: float
    dip_p99_ms: float
    pop_p99_ms: float
    wall_s: float
    cpu_s_per_call: float
    rss_kib_per_call: float


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def greeting_delay(result: SimCallResult) -> float | None:
    """Seconds from call start to the first prompt played after the CRM dip answered."""
    dip_seen = False
    for step in result.steps:
        if isinstance(step.event, HttpCompleted):
            dip_seen = True
        if dip_seen and any(isinstance(c, Play) for c in step.commands):
            return step.at
    return None


class PeakRss:
    """Samples the process RSS in a thread (the event loop is busy)."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def lost(result: SimCallResult) -> bool:
    return (
        result.timed_out
        or result.hit_global_error
        or not result.screen_pops
        or result.summary.agent_id is None
    )


def dip_times(result: SimCallResult) -> list[float]:
    return [s.event.elapsed_ms for s in result.steps if isinstance(s.event, HttpCompleted)]


async def one_call(
    runtime: Runtime, *, index: int, calls: int, ani: str, delay_s: float
) -> SimCallResult:
    await asyncio.sleep(delay_s)
    return await run_sim_call(
        runtime,
        ani=ani,
        dnis="+18005550100",
        presses=["1"],
        hang_up_in_queue_after_s=None,
        call_timeout_s=300,
        call_id=f"bench-{calls}-{index}",
    )


async def run_calls(
    emulator: RunningEmulator, *, calls: int, agents: int, ramp_s: float, talk_s: float
) -> RunResult:
    agent_ids = [f"bench{i:03d}" for i in range(agents)]
    config = demo_config(emulator=emulator, tts="silent", extra_agents=agent_ids)
    runtime = await Runtime.create(config, environ=demo_environ(emulator))
    await runtime.start()
    await make_agents_available(runtime, agent_ids)
    answer = AutoAnswer(runtime, talk_s=talk_s)
    answer.start()
    callers = [c for c in DEMO_CALLERS if c.label != "hostile"]
    process = psutil.Process()
    gc.collect()
    rss_before = process.memory_info().rss
    cpu_before = process.cpu_times()
    started = time.perf_counter()
    try:
        with PeakRss() as rss:
            peak = 0

            async def watch() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, runtime.active_call_count())
                    await asyncio.sleep(0.05)

            watcher = asyncio.create_task(watch())
            results = await asyncio.gather(
                *(
                    one_call(
                        runtime,
                        index=i,
                        calls=calls,
                        ani=callers[i % len(callers)].ani,
                        delay_s=ramp_s * i / calls,
                    )
                    for i in range(calls)
                )
            )
            watcher.cancel()
        wall = time.perf_counter() - started
        cpu_after = process.cpu_times()
    finally:
        answer.stop()
        await runtime.stop()
    greet = [d * 1000 for r in results if (d := greeting_delay(r)) is not None]
    pops = [
        (answer.popped_at[r.call_id] - answer.accepted_at[r.call_id]) * 1000
        for r in results
        if r.call_id in answer.popped_at and r.call_id in answer.accepted_at
    ]
    dips = [t for r in results for t in dip_times(r)]
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    lost_calls = sum(1 for r in results if lost(r))
    return RunResult(
        calls=calls,
        completed=calls - lost_calls,
        lost=lost_calls,
        peak_active=peak,
        greet_p50_ms=percentile(greet, 50),
        greet_p99_ms=percentile(greet, 99),
        dip_p50_ms=percentile(dips, 50),
        dip_p99_ms=percentile(dips, 99),
        pop_p99_ms=percentile(pops, 99),
        wall_s=wall,
        cpu_s_per_call=cpu / calls,
        rss_kib_per_call=max(0, rss.peak - rss_before) / 1024 / calls,
    )


def table(big: RunResult, small: RunResult) -> Table:
    out = Table(title="Contact center: simulated calls through the full flow")
    out.add_column("metric")
    out.add_column(f"{big.calls} calls", justify="right")
    out.add_column(f"{small.calls} calls (baseline)", justify="right")
    out.add_column("ratio", justify="right")

    def row(name: str, a: float, b: float, fmt: str = "{:.1f}") -> None:
        ratio = f"{a / b:.2f}x" if b else "-"
        out.add_row(name, fmt.format(a), fmt.format(b), ratio)

    out.add_row("calls completed", str(big.completed), str(small.completed), "")
    out.add_row("lost calls", str(big.lost), str(small.lost), "")
    out.add_row("peak calls in progress", str(big.peak_active), str(small.peak_active), "")
    row("p50 start -> greeting (ms)", big.greet_p50_ms, small.greet_p50_ms)
    row("p99 start -> greeting (ms)", big.greet_p99_ms, small.greet_p99_ms)
    row("p50 CRM dip over HTTP (ms)", big.dip_p50_ms, small.dip_p50_ms)
    row("p99 CRM dip over HTTP (ms)", big.dip_p99_ms, small.dip_p99_ms)
    row("p99 accept -> screen pop (ms)", big.pop_p99_ms, small.pop_p99_ms, "{:.2f}")
    row("wall time (s)", big.wall_s, small.wall_s, "{:.2f}")
    row("CPU per call (ms)", big.cpu_s_per_call * 1000, small.cpu_s_per_call * 1000)
    row("peak RSS growth per call (KiB)", big.rss_kib_per_call, small.rss_kib_per_call)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=100)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which calls arrive")
    parser.add_argument("--talk", type=float, default=2.0, help="seconds an agent talks")
    parser.add_argument("--markdown", type=Path, help="append the table to this file")
    args = parser.parse_args()
    console = Console()
    with running_emulator(seed="demo", require_auth=True) as emulator:
        options = {"agents": args.agents, "ramp_s": args.ramp, "talk_s": args.talk}
        small = asyncio.run(run_calls(emulator, calls=args.baseline, **options))
        big = asyncio.run(run_calls(emulator, calls=args.calls, **options))
    console.print(table(big, small))
    if args.markdown is not None:
        write_markdown(args.markdown, big, small)
    return 1 if big.lost or small.lost else 0


def write_markdown(path: Path, big: RunResult, small: RunResult) -> None:
    lines = [
        f"| metric | {big.calls} calls | {small.calls} calls (baseline) | ratio |",
        "|---|---:|---:|---:|",
    ]

    def row(name: str, a: Any, b: Any, fmt: str = "{:.1f}") -> None:
        ratio = f"{a / b:.2f}x" if isinstance(a, float) and b else ""
        lines.append(f"| {name} | {fmt.format(a)} | {fmt.format(b)} | {ratio} |")

    row("calls completed", big.completed, small.completed, "{}")
    row("lost calls", big.lost, small.lost, "{}")
    row("peak calls in progress", big.peak_active, small.peak_active, "{}")
    row("p50 start -> greeting (ms)", big.greet_p50_ms, small.greet_p50_ms)
    row("p99 start -> greeting (ms)", big.greet_p99_ms, small.greet_p99_ms)
    row("p50 CRM dip over HTTP (ms)", big.dip_p50_ms, small.dip_p50_ms)
    row("p99 CRM dip over HTTP (ms)", big.dip_p99_ms, small.dip_p99_ms)
    row("p99 agent accept -> screen pop (ms)", big.pop_p99_ms, small.pop_p99_ms, "{:.2f}")
    row("wall time (s)", big.wall_s, small.wall_s, "{:.2f}")
    row("CPU per call (ms)", big.cpu_s_per_call * 1000, small.cpu_s_per_call * 1000)
    row("peak RSS growth per call (KiB)", big.rss_kib_per_call, small.rss_kib_per_call)
    with path.open("a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
