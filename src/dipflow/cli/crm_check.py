"""`dipflow crm check CONNECTOR`: is this Dynamics 365 connector ready for calls?

Checks the connector's credentials (a token), its permissions (read contacts,
accounts, incidents), and the very requests the configured flows send for a test
number (derived through the engine), against a live org or the emulator, and
prints ✓/✗ with what to fix. Without a configuration: the bundled flow's requests.

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
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from dipflow.connectors.check import DEFAULT_TEST_ANI, CheckResult, run_checks
from dipflow.connectors.config import ConnectorConfig
from dipflow.connectors.flowcheck import FlowUnderTest, uses_connector


def _from_options(
    name: str,
    *,
    base_url: str,
    token_url: str | None,
    tenant: str | None,
    authority: str | None,
    client_id: str | None,
    client_secret_env: str | None,
    app_id: str | None = None,
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
    data: dict[str, Any] = {"name": name, "kind": "dataverse", "base_url": base_url, "auth": auth}
    if app_id:
        data["app_id"] = app_id
    try:
        return ConnectorConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'connector'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise typer.BadParameter(problems) from exc


def _from_file(name: str, path: Path) -> tuple[ConnectorConfig, list[FlowUnderTest]]:
    """The connector `name`, and the configured flows that use it, each with the
    variables it runs with (the connector's org settings, then the binding's overrides)."""
    from dipflow.connectors.org import flow_variables
    from dipflow.flow.loader import load_flow
    from dipflow.runtime.config import ConfigError, load_config
    from dipflow.runtime.flowpath import resolve_flow_path

    try:
        config = load_config(path)
    except (ConfigError, OSError) as exc:
        raise typer.BadParameter(f"{path}: {exc}") from exc
    connector = next((c for c in config.connectors if c.name == name), None)
    if connector is None:
        known = ", ".join(c.name for c in config.connectors) or "none"
        raise typer.BadParameter(f"no connector named {name!r} in {path} (connectors: {known})")
    flows: list[FlowUnderTest] = []
    seen: set[str] = set()
    for binding in config.flows:
        try:
            flow = load_flow(resolve_flow_path(binding.flow, config.base_dir))
            variables = flow_variables(flow, config.connectors, binding.variables)
        except Exception as exc:  # located flow/config problems, as `dipflow serve` says them
            raise typer.BadParameter(f"flow {binding.flow!r}: {exc}") from exc
        key = f"{binding.flow}|{sorted(variables.items())!r}"
        if uses_connector(flow, name) and key not in seen:
            seen.add(key)
            flows.append(FlowUnderTest(label=binding.flow, flow=flow, variables=variables))
    return connector, flows


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
        app_id: Annotated[
            str | None, typer.Option(help="Model-driven app id (required for a real org).")
        ] = None,
        ani: Annotated[
            str, typer.Option(help="Phone number to look up (one stored in the CRM).")
        ] = DEFAULT_TEST_ANI,
        timeout: Annotated[float, typer.Option(help="Seconds per request.")] = 10.0,
    ) -> None:
        """Check a connector's credentials, permissions, phone lookup and case expand."""
        flows: list[FlowUnderTest] = []
        if base_url:
            connector_config = _from_options(
                connector,
                base_url=base_url,
                token_url=token_url,
                tenant=tenant,
                authority=authority,
                client_id=client_id,
                client_secret_env=client_secret_env,
                app_id=app_id,
            )
        else:
            connector_config, flows = _from_file(connector, config)
        results = asyncio.run(
            run_checks(
                connector_config,
                environ=os.environ,
                ani=ani,
                timeout_s=timeout,
                flows=flows or None,
            )
        )
        if not render(Console(), connector, results):
            raise typer.Exit(1)
