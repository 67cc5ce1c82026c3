"""`dipflow call`: run ONE call through a flow in-process and show what happened.

The caller is simulated (`dipflow.channels.sim`), everything else is real: the
engine, the HTTP data dips (to the connector's endpoint; without a configuration,
an emulator with demo data is started in-process), the contact center and, with
`--agent-answer`, a simulated agent accepting through the same path as the desktop.
Layer 7 (command line).
"""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from dipflow.runtime.config import DipflowConfig
    from dipflow.runtime.simcall import SimCallResult

EXIT_GLOBAL_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_TIMEOUT = 3

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


def call(
    ani: Annotated[str, typer.Option("--ani", help="The caller's number, e.g. +14155550123.")],
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
) -> None:
    """Run one simulated call through a flow and print its transcript."""
    from dipflow.errors import DipflowError

    try:
        with ExitStack() as stack:
            cfg, environ, emulator_url = _configure(stack, flow=flow, config_path=config)
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
    # DipflowError: the configuration, a flow that does not load; Lookup: no flow for the
    # number, no bundled flow of that name; OS: a file that cannot be read.
    except (DipflowError, LookupError, ValueError, OSError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    if as_json:
        typer.echo(json.dumps(_as_json(result, emulator_url), indent=2, default=str))
    else:
        _print(result, emulator_url)
    if result.timed_out:
        raise typer.Exit(EXIT_TIMEOUT)
    if result.hit_global_error:
        raise typer.Exit(EXIT_GLOBAL_ERROR)


def _configure(
    stack: ExitStack, *, flow: str | None, config_path: Path | None
) -> tuple[DipflowConfig, dict[str, str], str | None]:
    """The configuration to run, its environment, and the emulator's URL when the demo
    configuration is used (the emulator then runs until `stack` closes)."""
    from dipflow.cli.demo import running_emulator
    from dipflow.runtime.config import FlowBinding, load_config
    from dipflow.runtime.demo import DEMO_FLOW, demo_config, demo_environ

    environ = dict(os.environ)
    if config_path is not None:
        cfg = load_config(config_path)
        if flow is not None:
            cfg = cfg.model_copy(update={"flows": [FlowBinding(dnis="*", flow=flow, variables={})]})
        return cfg, environ, None
    emulator = stack.enter_context(running_emulator())
    environ.update(demo_environ(emulator))
    cfg = demo_config(emulator=emulator, tts="silent", flow=flow or DEMO_FLOW)
    return cfg, environ, emulator.base_url


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


def _as_json(result: SimCallResult, emulator_url: str | None) -> dict[str, Any]:
    summary = result.summary.to_dict()
    return {
        "call_id": result.call_id,
        "ani": summary["ani"],
        "dnis": summary["dnis"],
        "emulator": emulator_url,
        "global_error": result.hit_global_error,
        "timed_out": result.timed_out,
        "transcript": [entry.to_dict() for entry in result.transcript],
        "screen_pops": [
            {"agent_id": p.agent_id, "url": p.url, "label": p.label, "target": p.target}
            for p in result.screen_pops
        ],
        "path": summary["path"],
        "agent_id": summary["agent_id"],
        "queue": summary["queue"],
    }


def _print(result: SimCallResult, emulator_url: str | None) -> None:
    console = Console()
    summary = result.summary
    if emulator_url is not None:
        console.print(
            f"[dim]No --config: CRM data dips go over HTTP to the Dataverse emulator started "
            f"in-process with demo data at {escape(emulator_url)}[/dim]"
        )
    table = Table(title=f"Call {escape(summary.ani)} -> {escape(summary.dnis)}", show_lines=False)
    table.add_column("t (s)", justify="right", style="dim")
    table.add_column("who")
    table.add_column("what", overflow="fold")
    for entry in result.transcript:
        style = _WHO_STYLE.get(entry.who, "")
        table.add_row(f"{entry.at:.3f}", f"[{style}]{entry.who}[/{style}]", escape(entry.text))
    console.print(table)
    for pop in result.screen_pops:
        console.print(
            f"[bold green]Screen pop[/bold green] for {escape(pop.agent_id)}: {escape(pop.url)}",
            soft_wrap=True,  # one line: the URL stays copyable
        )
    if result.hit_global_error:
        console.print("[red]The call went through the global error handler.[/red]")
    if result.timed_out:
        console.print("[red]The call did not finish in time.[/red]")
    console.print(f"[dim]Path: {escape(' > '.join(summary.path))}[/dim]")
