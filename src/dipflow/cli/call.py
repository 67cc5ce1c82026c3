"""`dipflow call`: run ONE call through a flow in-process and show what happened.

The caller is simulated (`dipflow.channels.sim`), everything else is real: the
engine, the HTTP data dips (to the connector's endpoint; without a configuration,
an emulator with demo data is started in-process), the contact center and, with
`--agent-answer`, a simulated agent accepting through the same path as the desktop.
"""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

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
    from dipflow.runtime.config import ConfigError
    from dipflow.runtime.runtime import RuntimeStartError

    try:
        outcome = asyncio.run(
            _run(
                ani=ani,
                dnis=dnis,
                presses=list(press or []),
                flow=flow,
                config_path=config,
                agent_answer=agent_answer,
                hold_s=hold_s,
                timeout_s=timeout_s,
            )
        )
    except (ConfigError, RuntimeStartError, LookupError, ValueError, OSError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    result, emulator_url = outcome
    if as_json:
        typer.echo(json.dumps(_as_json(result, emulator_url), indent=2, default=str))
    else:
        _print(result, emulator_url)
    if result.timed_out:
        raise typer.Exit(EXIT_TIMEOUT)
    if result.hit_global_error:
        raise typer.Exit(EXIT_GLOBAL_ERROR)


async def _run(
    *,
    ani: str,
    dnis: str,
    presses: list[str],
    flow: str | None,
    config_path: Path | None,
    agent_answer: bool,
    hold_s: float,
    timeout_s: float,
) -> tuple[Any, str | None]:
    from dipflow.runtime.config import DipflowConfig, FlowBinding, load_config
    from dipflow.runtime.demo import demo_config, demo_environ
    from dipflow.runtime.emulated import emulator_running
    from dipflow.runtime.runtime import Runtime
    from dipflow.runtime.simcall import AutoAnswer, make_agents_available, run_sim_call

    async with AsyncExitStack() as stack:
        environ: dict[str, str] = dict(os.environ)
        emulator_url: str | None = None
        cfg: DipflowConfig
        if config_path is not None:
            cfg = load_config(config_path)
            if flow is not None:
                cfg = cfg.model_copy(
                    update={"flows": [FlowBinding(dnis="*", flow=flow, variables={})]}
                )
        else:
            emulator = await stack.enter_async_context(emulator_running())
            emulator_url = str(emulator.base_url)
            environ.update(demo_environ(emulator))
            kwargs: dict[str, Any] = {"emulator": emulator, "tts": "silent"}
            if flow is not None:
                kwargs["flow"] = flow
            cfg = demo_config(**kwargs)
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
        return result, emulator_url
    raise AssertionError("unreachable")  # pragma: no cover - AsyncExitStack does not swallow


def _as_json(result: Any, emulator_url: str | None) -> dict[str, Any]:
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


def _print(result: Any, emulator_url: str | None) -> None:
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
