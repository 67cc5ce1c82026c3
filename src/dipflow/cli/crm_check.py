"""`dipflow crm check CONNECTOR`: is this Dynamics 365 connector ready for calls?

Checks the connector's credentials (a token), its permissions (read contacts,
accounts, incidents), the phone lookup and the `$expand` the bundled flow uses,
against a live org or the emulator, and prints ✓/✗ with what to fix.

The connector comes from `dipflow.yaml` (`--config`), or entirely from options
(`--base-url`, `--token-url` or `--tenant`, `--client-id`, `--client-secret-env`)
for a quick test before any configuration exists.
Layer 7 (command line).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dipflow.connectors.check import DEFAULT_TEST_ANI, CheckResult, run_checks
from dipflow.connectors.config import ConnectorConfig


def _from_options(
    name: str,
    *,
    base_url: str,
    token_url: str | None,
    tenant: str | None,
    authority: str | None,
    client_id: str | None,
    client_secret_env: str | None,
) -> ConnectorConfig:
    auth: dict[str, Any]
    if token_url or tenant:
        if not client_id or not client_secret_env:
            raise typer.BadParameter("--client-id and --client-secret-env are needed for a token")
        if token_url:
            auth = {
                "type": "oauth2_client_credentials",
                "token_url": token_url,
                "client_id": client_id,
                "client_secret_env": client_secret_env,
            }
        else:
            auth = {
                "type": "msal",
                "tenant": tenant,
                "client_id": client_id,
                "client_secret_env": client_secret_env,
            }
            if authority:
                auth["authority"] = authority
    else:
        auth = {"type": "none"}
    return ConnectorConfig.model_validate(
        {"name": name, "kind": "dataverse", "base_url": base_url, "auth": auth}
    )


def _from_file(name: str, path: Path) -> ConnectorConfig:
    from dipflow.runtime.config import ConfigError, load_config

    try:
        config = load_config(path)
    except (ConfigError, OSError) as exc:
        raise typer.BadParameter(f"{path}: {exc}") from exc
    for connector in config.connectors:
        if connector.name == name:
            return connector
    known = ", ".join(c.name for c in config.connectors) or "none"
    raise typer.BadParameter(f"no connector named {name!r} in {path} (connectors: {known})")


def render(console: Console, name: str, results: list[CheckResult]) -> bool:
    """Print the report; True when every check passed."""
    table = Table(title=f"Connector {name}", show_lines=False, title_justify="left")
    table.add_column("", width=1)
    table.add_column("Check")
    table.add_column("Result", overflow="fold")
    table.add_column("ms", justify="right")
    for result in results:
        mark = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]-[/]"}[result.ok]
        ms = f"{result.elapsed_ms:.0f}" if result.elapsed_ms else ""
        table.add_row(mark, result.name, result.detail, ms)
    console.print(table)
    failed = [r for r in results if r.ok is False]
    for result in failed:
        if result.fix:
            console.print(f"[red]✗ {result.name}[/]: [yellow]{result.fix}[/]")
    if failed:
        console.print(f"[red]{len(failed)} check(s) failed.[/]")
    else:
        console.print("[green]All checks passed: the connector is ready for calls.[/]")
    return not failed


def register(app: typer.Typer) -> None:
    """Add `check` to the `dipflow crm` group."""

    @app.command("check")
    def check(
        connector: Annotated[str, typer.Argument(help="Connector name (as in dipflow.yaml).")],
        config: Annotated[
            Path, typer.Option("--config", "-c", help="dipflow.yaml with a `connectors` list.")
        ] = Path("dipflow.yaml"),
        base_url: Annotated[
            str | None, typer.Option(help="Org URL; with this, dipflow.yaml is not read.")
        ] = None,
        token_url: Annotated[
            str | None, typer.Option(help="OAuth 2.0 token endpoint (client credentials).")
        ] = None,
        tenant: Annotated[
            str | None, typer.Option(help="Entra tenant ID: use MSAL instead of --token-url.")
        ] = None,
        authority: Annotated[str | None, typer.Option(help="MSAL authority URL.")] = None,
        client_id: Annotated[str | None, typer.Option(help="Application (client) ID.")] = None,
        client_secret_env: Annotated[
            str | None, typer.Option(help="Environment variable holding the client secret.")
        ] = None,
        ani: Annotated[
            str, typer.Option(help="Phone number to look up (one stored in the CRM).")
        ] = DEFAULT_TEST_ANI,
        timeout: Annotated[float, typer.Option(help="Seconds per request.")] = 10.0,
    ) -> None:
        """Check a connector's credentials, permissions, phone lookup and case expand."""
        if base_url:
            connector_config = _from_options(
                connector,
                base_url=base_url,
                token_url=token_url,
                tenant=tenant,
                authority=authority,
                client_id=client_id,
                client_secret_env=client_secret_env,
            )
        else:
            connector_config = _from_file(connector, config)
        results = asyncio.run(
            run_checks(connector_config, environ=os.environ, ani=ani, timeout_s=timeout)
        )
        if not render(Console(), connector, results):
            raise typer.Exit(1)
