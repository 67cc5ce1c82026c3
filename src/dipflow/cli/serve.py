"""`dipflow serve` (a configured deployment) and `dipflow demo` (everything in one process).
Layer 7 (command line); both run `dipflow.cli.server.serve_runtime`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from dipflow.cli.server import ServerUrls

EXIT_BAD_CONFIG = 2


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("demo")(demo)


def _setup_logging() -> None:
    from dipflow.runtime.logs import configure_logging

    configure_logging(
        level=os.environ.get("DIPFLOW_LOG_LEVEL", "INFO"),
        as_json=os.environ.get("DIPFLOW_LOG_JSON", "") not in ("", "0", "false"),
    )


def _print_urls(console: Console, urls: ServerUrls, extra: list[tuple[str, str]]) -> None:
    table = Table(title="dipflow is running", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("where")
    table.add_row("Caller phone (browser)", urls.phone)
    table.add_row("Agent desktop", urls.desktop)
    table.add_row("Supervisor", urls.supervisor)
    table.add_row("Flows (lint, diagrams)", f"{urls.base.rstrip('/')}/flows")
    table.add_row("Metrics", urls.metrics)
    if urls.sip is not None:
        table.add_row("SIP", urls.sip)
    for what, where in extra:
        table.add_row(what, escape(where))
    console.print(table)
    console.print("Press Ctrl-C to stop.")


def serve(
    config: Annotated[
        Path,
        typer.Option("--config", envvar="DIPFLOW_CONFIG", help="The dipflow.yaml to run."),
    ] = Path("dipflow.yaml"),
    port: Annotated[
        int | None, typer.Option("--port", help="Web port (overrides web.port).")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Web interface (web.host).")] = None,
    no_sip: Annotated[
        bool, typer.Option("--no-sip", help="Do not start the SIP listener.")
    ] = False,
) -> None:
    """Run the runtime, the web app (desktop, supervisor, phone, metrics) and SIP."""
    from dipflow.cli.server import serve_runtime
    from dipflow.errors import ConfigError
    from dipflow.runtime.config import load_config
    from dipflow.runtime.errors import RuntimeStartError

    console = Console()
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        # soft_wrap: a `file:line:col` must stay on one line to be clickable and greppable.
        Console(stderr=True).print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        raise typer.Exit(EXIT_BAD_CONFIG) from exc
    web = cfg.web.model_copy(
        update={k: v for k, v in (("port", port), ("host", host)) if v is not None}
    )
    cfg = cfg.model_copy(update={"web": web, **({"sip": None} if no_sip else {})})
    _setup_logging()
    try:
        asyncio.run(
            serve_runtime(
                cfg,
                environ=os.environ,
                on_ready=lambda urls: _print_urls(console, urls, []),
            )
        )
    except (RuntimeStartError, OSError, ValueError) as exc:
        Console(stderr=True).print(f"[red]cannot start:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_BAD_CONFIG) from exc
    console.print("stopped.")


def demo(
    port: Annotated[int, typer.Option("--port", help="Web port (0: any free port).")] = 8080,
    host: Annotated[str, typer.Option("--host", help="Web interface.")] = "127.0.0.1",
    sip_port: Annotated[int, typer.Option("--sip-port", help="SIP port.")] = 5060,
    no_sip: Annotated[
        bool, typer.Option("--no-sip", help="Do not start the SIP listener.")
    ] = False,
) -> None:
    """Everything in one process: the CRM emulator with demo data, the bundled flow on every
    number, demo agents, the web app and (unless --no-sip) SIP on 127.0.0.1."""
    from dipflow.cli.demo import demo_phone_callers, running_emulator
    from dipflow.cli.server import serve_runtime
    from dipflow.runtime.demo import DEMO_LOGINS, demo_config, demo_environ
    from dipflow.runtime.errors import RuntimeStartError

    console = Console()
    _setup_logging()

    def ready(urls: ServerUrls, crm_url: str) -> None:
        _print_urls(console, urls, [("CRM emulator", f"{crm_url}/")])
        logins = Table(title="Demo logins (user / password)")
        logins.add_column("user")
        logins.add_column("password")
        logins.add_column("role")
        for login in DEMO_LOGINS:
            logins.add_row(login.username, login.password, login.role)
        console.print(logins)
        if urls.sip is not None:
            console.print(
                f"Softphones: call any number at {urls.sip}; an agent's phone "
                "registers there as agent1 (password agent1), agent2, agent3 and "
                "gets the caller's audio when that agent accepts on the desktop.",
                soft_wrap=True,
            )

    try:
        with running_emulator() as emulator:
            cfg = demo_config(
                emulator=emulator,
                web_port=port,
                web_host=host,
                sip=None if no_sip else {"host": "127.0.0.1", "port": sip_port},
                phone_callers=demo_phone_callers(),
            )
            asyncio.run(
                serve_runtime(
                    cfg,
                    environ={**os.environ, **demo_environ(emulator)},
                    on_ready=lambda urls: ready(urls, emulator.base_url),
                )
            )
    except (RuntimeStartError, OSError, ValueError) as exc:
        Console(stderr=True).print(
            f"[red]cannot start the demo:[/red] {escape(str(exc))}", soft_wrap=True
        )
        raise typer.Exit(EXIT_BAD_CONFIG) from exc
    logging.shutdown()
    console.print("stopped.")
