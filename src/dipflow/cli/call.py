"""`dipflow call`: run ONE call through a flow in-process and show what happened.

The caller is simulated (`dipflow.channels.sim`), everything else is real: the
engine, the HTTP data dips (to the connector's endpoint; without a configuration,
an emulator with demo data is started in-process), the contact center and, with
`--agent-answer`, a simulated agent accepting through the same path as the desktop.
With `--fast` the call runs on the flow simulator's fake clock instead (timeouts take
no time; see `dipflow.cli.fastcall`), the data dips still real.
Layer 7 (command line).
"""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dipflow.runtime.tracing import global_error_detail, trace_records

if TYPE_CHECKING:
    from dipflow.cli.demo import RunningEmulator
    from dipflow.runtime.config import DipflowConfig
    from dipflow.runtime.simcall import SimCallResult
    from dipflow.runtime.transcript import TranscriptEntry

EXIT_GLOBAL_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_TIMEOUT = 3
DEFAULT_ANI = "+14155550123"
"""A number the demo CRM knows (Ada Lovelace, with an open case): flows that ignore the
caller ID need no `--ani`."""

_WHO_STYLE = {
    "ivr": "cyan",
    "caller": "yellow",
    "http": "magenta",
    "queue": "blue",
    "agent": "green",
    "desktop": "bold green",
    "system": "dim",
}


def register(app: typer.Typer) -> None:
    app.command("call")(call)


class BadInput(ValueError):
    """An option the call cannot run with (said in plain words, exit 2)."""


def _variables(pairs: list[str] | None) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise BadInput(f"--var takes NAME=VALUE, got {pair!r}")
        variables[name.strip()] = value
    return variables


def _start_time(at: str | None) -> float | None:
    if at is None:
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise BadInput(
            f"--at takes an ISO 8601 time such as 2026-12-24T19:00+01:00, got {at!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _records(values: list[str] | None) -> list[tuple[str, dict[str, Any]]]:
    records: list[tuple[str, dict[str, Any]]] = []
    for value in values or []:
        entity, sep, body = value.partition("=")
        try:
            record = json.loads(body) if sep else None
        except json.JSONDecodeError as exc:
            raise BadInput(f"--crm-record {entity}=...: not JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not entity.strip():
            raise BadInput(
                "--crm-record takes ENTITY_SET=JSON_OBJECT, e.g. "
                'contacts=\'{"fullname": "Grace Hopper", "telephone1": "+14155550177"}\''
            )
        records.append((entity.strip(), record))
    return records


@dataclass(frozen=True, slots=True, kw_only=True)
class CrmShape:
    """How the zero-configuration CRM (the in-process emulator) behaves for this call."""

    fault_status: int | None = None
    latency_ms: float | None = None
    records: tuple[tuple[str, dict[str, Any]], ...] = ()

    @property
    def shaped(self) -> bool:
        return self.fault_status is not None or self.latency_ms is not None or bool(self.records)


def call(
    ani: Annotated[
        str, typer.Option("--ani", help="The caller's number (default: a demo CRM contact).")
    ] = DEFAULT_ANI,
    dnis: Annotated[str, typer.Option("--dnis", help="The dialled number.")] = "+18005550100",
    press: Annotated[
        list[str] | None,
        typer.Option("--press", help="Keys pressed at successive menus (repeat the option)."),
    ] = None,
    flow: Annotated[
        str | None, typer.Option("--flow", help="A flow file or bundled flow name.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="dipflow.yaml (default: demo + emulator).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    agent_answer: Annotated[
        bool, typer.Option("--agent-answer", help="A simulated agent answers the queued call.")
    ] = False,
    hold_s: Annotated[
        float, typer.Option("--hold", help="Seconds the caller waits in queue before hanging up.")
    ] = 1.0,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Give up after this.")] = 60.0,
    fast: Annotated[
        bool,
        typer.Option("--fast", help="Run on the simulator's fake clock: timeouts take no time."),
    ] = False,
    var: Annotated[
        list[str] | None,
        typer.Option("--var", help="Set a flow variable: NAME=VALUE (repeatable)."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="The call's start time, ISO 8601 (implies --fast)."),
    ] = None,
    crm_fault: Annotated[
        int | None,
        typer.Option("--crm-fault", help="The demo CRM answers every request with this status."),
    ] = None,
    crm_latency: Annotated[
        float | None,
        typer.Option("--crm-latency", help="The demo CRM answers after this many ms."),
    ] = None,
    crm_record: Annotated[
        list[str] | None,
        typer.Option("--crm-record", help="Add a record to the demo CRM: ENTITY_SET=JSON."),
    ] = None,
) -> None:
    """Run one simulated call through a flow and print its transcript."""
    from dipflow.cli.problems import print_failed, report_console
    from dipflow.errors import DipflowError
    from dipflow.flow.errors import FlowError

    try:
        variables = _variables(var)
        start_time = _start_time(at)
        shape = CrmShape(
            fault_status=crm_fault, latency_ms=crm_latency, records=tuple(_records(crm_record))
        )
        if shape.shaped and config is not None:
            raise BadInput(
                "--crm-fault, --crm-latency and --crm-record shape the built-in demo CRM:"
                " leave out --config"
            )
        if crm_fault is not None and not 400 <= crm_fault <= 599:
            raise BadInput(f"--crm-fault takes an HTTP error status (400-599), got {crm_fault}")
        with ExitStack() as stack:
            cfg, environ, emulator = _configure(stack, flow=flow, config_path=config, shape=shape)
            if emulator is not None:
                _shape(emulator, shape, fast=fast or start_time is not None)
            if fast or start_time is not None:
                report = _run_fast(
                    cfg,
                    environ,
                    ani=ani,
                    dnis=dnis,
                    presses=list(press or []),
                    agent_answer=agent_answer,
                    hold_s=hold_s,
                    start_time=start_time,
                    variables=variables,
                    latency_ms=crm_latency,
                    max_time=timeout_s,
                )
            else:
                if variables:
                    cfg = _with_variables(cfg, dnis, variables)
                result = asyncio.run(
                    _run(
                        cfg,
                        environ,
                        ani=ani,
                        dnis=dnis,
                        presses=list(press or []),
                        agent_answer=agent_answer,
                        hold_s=hold_s,
                        timeout_s=timeout_s,
                    )
                )
                report = _live_report(result)
    # A flow that does not load: its problems exactly as `dipflow flow validate` prints
    # them (standard output, one per line, never wrapped), as every command does.
    except FlowError as exc:
        print_failed(report_console(), exc.problems[0].file if exc.problems else "", exc.problems)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    # DipflowError: the configuration, a variable the flow does not declare; Lookup: no
    # flow for the number, no bundled flow of that name; OS: a file that cannot be read.
    except (DipflowError, LookupError, ValueError, OSError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    emulator_url = emulator.base_url if emulator is not None else None
    if as_json:
        typer.echo(json.dumps(_as_json(report, emulator_url), indent=2, default=str))
    else:
        _print(report, emulator_url)
    if report.timed_out:
        raise typer.Exit(EXIT_TIMEOUT)
    if report.global_error is not None:
        raise typer.Exit(EXIT_GLOBAL_ERROR)


def _configure(
    stack: ExitStack, *, flow: str | None, config_path: Path | None, shape: CrmShape
) -> tuple[DipflowConfig, dict[str, str], RunningEmulator | None]:
    """The configuration to run, its environment, and the emulator when the demo
    configuration is used by a flow that asks the demo CRM (the emulator then runs until
    `stack` closes). A flow that never asks it runs without: starting one is most of the
    wall time of a small `--fast` call."""
    from dipflow.runtime.config import FlowBinding, load_config
    from dipflow.runtime.demo import DEMO_FLOW, demo_config, demo_environ

    environ = dict(os.environ)
    if config_path is not None:
        cfg = load_config(config_path)
        if flow is not None:
            cfg = cfg.model_copy(update={"flows": [FlowBinding(dnis="*", flow=flow, variables={})]})
        return cfg, environ, None
    reference = flow or DEMO_FLOW
    if not _asks_demo_crm(reference):
        if shape.shaped:
            raise BadInput(
                f"--crm-fault, --crm-latency and --crm-record shape the demo CRM, and flow"
                f" {reference!r} never asks it (no HTTP request or variable names connector"
                " `dynamics`)"
            )
        return demo_config(emulator=None, tts="silent", flow=reference, logins=False), environ, None
    from dipflow.cli.demo import running_emulator

    emulator = stack.enter_context(running_emulator())
    environ.update(demo_environ(emulator))
    cfg = demo_config(emulator=emulator, tts="silent", flow=reference, logins=False)
    return cfg, environ, emulator


def _asks_demo_crm(reference: str) -> bool:
    """Does the flow send a request to, or read a setting of, the zero-configuration
    environment's connector (`dynamics`, served by the in-process emulator)?

    A flow naming another connector is refused in plain words: without `--config` nothing
    else is served."""
    from dipflow.flow.loader import load_flow
    from dipflow.flow.model import HttpRequestActivity
    from dipflow.runtime.demo import DEMO_CONNECTOR
    from dipflow.runtime.flowpath import resolve_flow_path

    loaded = load_flow(resolve_flow_path(reference, Path(".")))
    graphs = [loaded.activities, *(f.activities for f in loaded.event_flows.values())]
    named = {
        activity.connector
        for graph in graphs
        for activity in graph.values()
        if isinstance(activity, HttpRequestActivity) and activity.connector is not None
    }
    named |= {v.connector_setting[0] for v in loaded.variables if v.connector_setting is not None}
    others = sorted(named - {DEMO_CONNECTOR})
    if others:
        raise BadInput(
            f"flow {reference!r} uses connector(s) {', '.join(others)}; without --config only"
            f" connector `{DEMO_CONNECTOR}` (the demo CRM) is served: give a --config that"
            " defines them (docs/flows.md, 'Running a flow')"
        )
    return DEMO_CONNECTOR in named


def _shape(emulator: RunningEmulator, shape: CrmShape, *, fast: bool) -> None:
    """Seed records and inject faults into the in-process emulator. On the fake clock the
    latency is the simulator's (the emulator answers at once and the answer arrives late)."""
    import httpx

    if shape.records:
        headers = {"Authorization": f"Bearer {emulator.token()}"}
        for entity, record in shape.records:
            response = httpx.post(
                f"{emulator.api_url}{entity}", json=record, headers=headers, timeout=10
            )
            if response.status_code >= 400:
                raise BadInput(
                    f"--crm-record {entity}: the demo CRM refused it ({response.status_code}:"
                    f" {response.text[:200]})"
                )
    faults: dict[str, Any] = {}
    if shape.fault_status is not None:
        faults.update(error_rate=1.0, error_status=shape.fault_status)
    if shape.latency_ms is not None and not fast:
        faults.update(latency_ms=shape.latency_ms)
    if faults:
        emulator.set_faults(**faults)


def _with_variables(cfg: DipflowConfig, dnis: str, variables: dict[str, str]) -> DipflowConfig:
    binding = cfg.binding_for(dnis)
    updated = binding.model_copy(update={"variables": {**binding.variables, **variables}})
    flows = [updated if b is binding else b for b in cfg.flows]
    return cfg.model_copy(update={"flows": flows})


async def _run(
    cfg: DipflowConfig,
    environ: dict[str, str],
    *,
    ani: str,
    dnis: str,
    presses: list[str],
    agent_answer: bool,
    hold_s: float,
    timeout_s: float,
) -> SimCallResult:
    from dipflow.runtime.runtime import Runtime
    from dipflow.runtime.simcall import AutoAnswer, make_agents_available, run_sim_call

    async with AsyncExitStack() as stack:
        runtime = await Runtime.create(cfg, environ=environ)
        await runtime.start()
        stack.push_async_callback(runtime.stop)
        answer: AutoAnswer | None = None
        if agent_answer:
            await make_agents_available(runtime, [a.agent_id for a in cfg.center.agents])
            answer = AutoAnswer(runtime, talk_s=0.2)
            answer.start()
            stack.callback(answer.stop)
        result = await run_sim_call(
            runtime,
            ani=ani,
            dnis=dnis,
            presses=presses,
            hang_up_in_queue_after_s=None if agent_answer else hold_s,
            call_timeout_s=timeout_s,
        )
        return result
    raise AssertionError("unreachable")  # pragma: no cover - AsyncExitStack does not swallow


# -- one report for both clocks ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallReport:
    call_id: str
    ani: str
    dnis: str
    transcript: list[TranscriptEntry]
    screen_pops: list[dict[str, str]]
    path: list[str]
    agent_id: str | None
    queue: str | None
    trace: list[dict[str, Any]]
    global_error: dict[str, Any] | None
    """The global error handler's trace entry (activity, error) when the call went there."""
    timed_out: bool
    clock: str
    """`live` (real time) or `fast` (the simulator's clock)."""


def _live_report(result: SimCallResult) -> CallReport:
    summary = result.summary
    trace = [dict(entry) for entry in summary.trace]
    return CallReport(
        call_id=result.call_id,
        ani=summary.ani,
        dnis=summary.dnis,
        transcript=result.transcript,
        screen_pops=[
            {"agent_id": p.agent_id, "url": p.url, "label": p.label, "target": p.target}
            for p in result.screen_pops
        ],
        path=list(summary.path),
        agent_id=summary.agent_id,
        queue=summary.queue,
        trace=trace,
        global_error=global_error_detail(trace, result.hit_global_error),
        timed_out=result.timed_out,
        clock="live",
    )


def _run_fast(
    cfg: DipflowConfig,
    environ: dict[str, str],
    *,
    ani: str,
    dnis: str,
    presses: list[str],
    agent_answer: bool,
    hold_s: float,
    start_time: float | None,
    variables: dict[str, str],
    latency_ms: float | None,
    max_time: float,
) -> CallReport:
    from dipflow.cli.fastcall import run_fast
    from dipflow.runtime.transcript import build_transcript

    fast = run_fast(
        cfg,
        environ,
        ani=ani,
        dnis=dnis,
        presses=presses,
        agent_answer=agent_answer,
        hold_s=hold_s,
        start_time=start_time,
        variables=variables,
        latency_s=latency_ms / 1000.0 if latency_ms is not None else None,
        max_time=max_time,
    )
    result = fast.result
    trace = [dict(entry) for entry in fast.trace]
    return CallReport(
        call_id=result.state.call_id,
        ani=ani,
        dnis=dnis,
        transcript=build_transcript(fast.steps),
        screen_pops=[
            {"agent_id": p.agent_id or "", "url": p.url, "label": p.label, "target": p.target}
            for p in fast.screen_pops
        ],
        path=result.path,
        agent_id=result.state.agent.agent_id if result.state.agent is not None else None,
        queue=result.queued[-1] if result.queued else None,
        trace=trace,
        global_error=global_error_detail(trace, False),
        timed_out=not result.finished,
        clock="fast",
    )


def _as_json(report: CallReport, emulator_url: str | None) -> dict[str, Any]:
    return {
        "call_id": report.call_id,
        "ani": report.ani,
        "dnis": report.dnis,
        "clock": report.clock,
        "emulator": emulator_url,
        "global_error": report.global_error is not None,
        "global_error_detail": report.global_error,
        "timed_out": report.timed_out,
        "transcript": [entry.to_dict() for entry in report.transcript],
        "screen_pops": report.screen_pops,
        "path": report.path,
        "agent_id": report.agent_id,
        "queue": report.queue,
        "trace": trace_records(report.trace),
    }


def _what(entry: TranscriptEntry) -> str:
    """The table's text: the request with its query, the prompt with its voice."""
    detail = entry.detail or {}
    text = entry.text
    if entry.kind == "request" and detail.get("query"):
        # As a person reads it (the wire encodes it: `dipflow call --json` has the map).
        text += "?" + "&".join(f"{key}={value}" for key, value in detail["query"].items())
    elif entry.kind == "say":
        voice = f", {detail['voice']}" if detail.get("voice") else ""
        segments = detail.get("segments") or []
        if segments:
            parts = [
                f"[{s['language']}{', ' + s['voice'] if s.get('voice') else ''}] {s['text']}"
                for s in segments
            ]
            return " ".join(parts)
        text = f"[{detail.get('language', '')}{voice}] {text}"
    return text


def _print(report: CallReport, emulator_url: str | None) -> None:
    console = Console()
    if emulator_url is not None:
        console.print(
            f"[dim]No --config: CRM data dips go over HTTP to the Dataverse emulator started "
            f"in-process with demo data at {escape(emulator_url)}[/dim]"
        )
    if report.clock == "fast":
        console.print("[dim]--fast: the call ran on the simulator's clock[/dim]")
    table = Table(title=f"Call {escape(report.ani)} -> {escape(report.dnis)}", show_lines=False)
    table.add_column("t (s)", justify="right", style="dim")
    table.add_column("who")
    table.add_column("what", overflow="fold")
    for entry in report.transcript:
        style = _WHO_STYLE.get(entry.who, "")
        table.add_row(f"{entry.at:.3f}", f"[{style}]{entry.who}[/{style}]", escape(_what(entry)))
    console.print(table)
    for pop in report.screen_pops:
        console.print(
            f"[bold green]Screen pop[/bold green] for {escape(pop['agent_id'])}: "
            f"{escape(pop['url'])}",
            soft_wrap=True,  # one line: the URL stays copyable
        )
    if report.global_error is not None:
        where = report.global_error.get("activity") or "?"
        why = report.global_error.get("error") or "unknown"
        line = f"The call went through the global error handler: [{where}] {why}"
        console.print(f"[red]{escape(line)}[/red]", soft_wrap=True)
    if report.timed_out:
        console.print("[red]The call did not finish in time.[/red]")
    console.print(f"[dim]Path: {escape(' > '.join(report.path))}[/dim]")
