"""`dipflow crm serve` and `dipflow crm seed`: the Dataverse-compatible emulator.
Layer 7 (command line).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dipflow.emulator.settings import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TENANT,
    EmulatorSettings,
    SeedKind,
)

console = Console()


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8081,
    db: Annotated[str, typer.Option(help="SQLite file, or :memory:.")] = ":memory:",
    seed: Annotated[SeedKind, typer.Option(help="Load the demo data into an empty database.")] = (
        SeedKind.DEMO
    ),
    client_id: Annotated[str, typer.Option(help="Accepted client id.")] = DEFAULT_CLIENT_ID,
    client_secret: Annotated[
        str, typer.Option(help="Accepted client secret.", envvar="DIPFLOW_CRM_CLIENT_SECRET")
    ] = DEFAULT_CLIENT_SECRET,
    tenant: Annotated[str, typer.Option(help="Tenant id in the token URL.")] = DEFAULT_TENANT,
    token_lifetime: Annotated[int, typer.Option(help="Token lifetime in seconds.")] = 3600,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Accept requests without credentials.")
    ] = False,
    audience: Annotated[
        str | None, typer.Option(help="Expected token audience (default: the URL requests use).")
    ] = None,
) -> None:
    """Run the Dataverse Web API emulator (the CRM for demos, tests and benchmarks)."""
    import uvicorn

    from dipflow.emulator.app import create_app

    if token_lifetime < 1:
        raise typer.BadParameter("--token-lifetime must be at least 1 second")
    settings = EmulatorSettings(
        db=db,
        seed=seed,
        require_auth=not no_auth,
        tenant=tenant,
        client_id=client_id,
        client_secret=client_secret,
        token_lifetime_s=token_lifetime,
        audience=audience,
    )
    app = create_app(settings)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown_host}:{port}"
    console.print(f"[bold]Dataverse emulator[/bold] on {base}")
    console.print(f"  Web API:       {base}/api/data/v9.2/")
    console.print(f"  Token URL:     {base}/{tenant}/oauth2/v2.0/token")
    console.print(f"  Scope:         {audience or base}/.default")
    console.print(f"  Tenant:        {tenant}")
    console.print(f"  Client id:     {client_id}")
    console.print(f"  Client secret: {client_secret}")
    console.print(f"  Auth required: {not no_auth}; database: {db}; seed: {seed.value}")
    console.print(f"  Admin:         {base}/_emulator/stats, {base}/_emulator/faults")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def seed_command(
    contacts: Annotated[int, typer.Option(help="Number of contacts to generate.", min=0)] = 1000,
    db: Annotated[Path, typer.Option(help="SQLite file to create.")] = Path("crm.sqlite"),
    accounts: Annotated[
        int | None, typer.Option(help="Number of accounts (default: contacts/20).", min=0)
    ] = None,
    rng_seed: Annotated[int, typer.Option("--rng-seed", help="Random seed.")] = 1,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Also add the demo records.")
    ] = True,
    replace: Annotated[
        bool, typer.Option("--replace", help="Delete DB first if it exists.")
    ] = False,
) -> None:
    """Generate a realistic CRM database (names, mixed-format phones, cases)."""
    from dipflow.emulator.seed import seed_database

    if db.exists():
        if not replace:
            console.print(f"[red]{db} exists[/red]; pass --replace to overwrite it.")
            raise typer.Exit(2)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("contacts + cases", total=contacts)
        result = seed_database(
            db,
            contacts=contacts,
            accounts=accounts,
            rng_seed=rng_seed,
            with_demo=demo,
            on_progress=lambda n: progress.advance(task, n),
        )
    elapsed = time.perf_counter() - started
    console.print(
        f"Wrote {db}: {result.contacts:,} contacts, {result.accounts:,} accounts, "
        f"{result.incidents:,} cases in {elapsed:.1f} s"
    )


def register(app: typer.Typer) -> None:
    """Add `serve` and `seed` to the `dipflow crm` group."""
    app.command("serve")(serve)
    app.command("seed")(seed_command)
