"""`dipflow flow import webex`, `dipflow flow lint`, `dipflow flow graph`.
Layer 7 (command line).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dipflow.flow.graph import to_mermaid, to_png, to_svg
from dipflow.flow.lint import Finding, Severity, lint_flow
from dipflow.flow.model import Flow
from dipflow.flow.webex import WebexImportError, import_webex_file
from dipflow.flow.webex.activities import ImportOptions

console = Console()
errors = Console(stderr=True)


class GraphFormat(StrEnum):
    MERMAID = "mermaid"
    SVG = "svg"
    PNG = "png"


class FailOn(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    NEVER = "never"


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for value in values or []:
        old, sep, new = value.partition("=")
        if not sep or not old or not new:
            errors.print(f"[red]{option} takes WEBEX_NAME=DIPFLOW_NAME, got {value!r}[/red]")
            raise typer.Exit(2)
        mapping[old] = new
    return mapping


def _report_import_error(exc: WebexImportError) -> None:
    errors.print(f"[red]cannot import: {len(exc.problems)} problem(s)[/red]")
    for problem in exc.problems:
        errors.print(f"  {escape(str(problem))}")


def load_any_flow(path: Path) -> Flow:
    """A native flow file, or a Webex export (imported on the fly, strictly)."""
    if path.suffix.lower() == ".json":
        try:
            head = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            head = None
        if isinstance(head, dict) and "process" in head:
            return import_webex_file(path, allow_partial=True).flow
    from dipflow.flow.loader import load_flow

    return load_flow(path)


def _load_or_exit(path: Path) -> Flow:
    from dipflow.flow.errors import FlowError

    try:
        return load_any_flow(path)
    except WebexImportError as exc:
        _report_import_error(exc)
    except FlowError as exc:
        errors.print(escape(str(exc)))
    raise typer.Exit(1)


def import_webex(
    export: Annotated[Path, typer.Argument(help="Flow Designer export (JSON).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the flow here (default: stdout).")
    ] = None,
    allow_partial: Annotated[
        bool,
        typer.Option(help="Turn unsupported activities into `unsupported` ones taking `error`."),
    ] = False,
    connector: Annotated[
        list[str] | None,
        typer.Option(help="Map a Webex connector to a dipflow one: WEBEX=DIPFLOW (repeatable)."),
    ] = None,
    queue: Annotated[
        list[str] | None, typer.Option(help="Map a Webex queue name: WEBEX=DIPFLOW (repeatable).")
    ] = None,
) -> None:
    """Import a Webex Contact Center Flow Designer export as a native YAML flow."""
    options = ImportOptions(
        connector_map=_pairs(connector, "--connector"), queue_map=_pairs(queue, "--queue")
    )
    try:
        result = import_webex_file(export, options=options, allow_partial=allow_partial)
    except WebexImportError as exc:
        _report_import_error(exc)
        raise typer.Exit(1) from None
    header = (
        f"# Imported from {export.name} by `dipflow flow import webex`.\n"
        "# Faithful to the Webex flow, defects included: run `dipflow flow lint` on it.\n"
    )
    text = header + yaml.safe_dump(result.document, sort_keys=False, allow_unicode=True, width=100)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        errors.print(
            f"[green]imported[/green] {len(result.flow.activities)} activities and "
            f"{len(result.flow.event_flows)} event flows into {escape(str(output))}"
        )
    for note in result.notes:
        errors.print(f"[dim]note: {escape(note)}[/dim]")
    for problem in result.unsupported:
        errors.print(f"[yellow]unsupported:[/yellow] {escape(str(problem))}")


def _threshold(fail_on: FailOn) -> Severity | None:
    return None if fail_on is FailOn.NEVER else Severity[fail_on.name]


def lint(
    flow_file: Annotated[Path, typer.Argument(help="A flow file (YAML/JSON) or a Webex export.")],
    as_json: Annotated[bool, typer.Option("--json", help="Findings as JSON.")] = False,
    fail_on: Annotated[
        FailOn, typer.Option(help="Exit 1 when a finding is at least this severe.")
    ] = FailOn.WARNING,
    show_info: Annotated[bool, typer.Option(help="Also list info findings.")] = False,
) -> None:
    """Report what would fail callers: unwired errors, unsafe queries, menus, music loops..."""
    flow = _load_or_exit(flow_file)
    minimum = Severity.INFO if show_info or fail_on is FailOn.INFO else Severity.WARNING
    findings = lint_flow(flow, minimum=minimum)
    if as_json:
        sys.stdout.write(json.dumps([f.as_dict() for f in findings], indent=2) + "\n")
    else:
        _print_findings(flow_file, findings)
    threshold = _threshold(fail_on)
    if threshold is not None and any(f.severity >= threshold for f in findings):
        raise typer.Exit(1)


_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}


def _print_findings(path: Path, findings: list[Finding]) -> None:
    if not findings:
        console.print(f"[green]✓ {escape(str(path))}: no findings[/green]", soft_wrap=True)
        return
    table = Table(title=f"{escape(str(path))}: {len(findings)} finding(s)", show_lines=True)
    for column in ("severity", "rule", "where", "finding", "fix"):
        table.add_column(column)
    for f in findings:
        where = f.activity or "-"
        if f.flow != "main":
            where = f"{f.flow}/{where}"
        style = _STYLE[f.severity]
        table.add_row(
            f"[{style}]{f.severity.label}[/{style}]",
            f.rule,
            escape(where),
            escape(f.message),
            escape(f.hint),
        )
    console.print(table)


def graph(
    flow_file: Annotated[Path, typer.Argument(help="A flow file (YAML/JSON) or a Webex export.")],
    fmt: Annotated[GraphFormat, typer.Option("--format", "-f")] = GraphFormat.MERMAID,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Output file (default: stdout, text).")
    ] = None,
) -> None:
    """Draw the flow (main flow and event flows, outputs labelled), with no network."""
    flow = _load_or_exit(flow_file)
    rendered: Any
    if fmt is GraphFormat.MERMAID:
        rendered = to_mermaid(flow)
    elif fmt is GraphFormat.SVG:
        rendered = to_svg(flow)
    else:
        rendered = to_png(flow)
    if output is not None:
        if isinstance(rendered, bytes):
            output.write_bytes(rendered)
        else:
            output.write_text(rendered, encoding="utf-8")
        errors.print(f"[green]wrote[/green] {escape(str(output))}")
    elif isinstance(rendered, bytes):
        errors.print("[red]PNG is binary: give an output file with -o[/red]")
        raise typer.Exit(2)
    else:
        sys.stdout.write(rendered)


def register(app: typer.Typer) -> None:
    """Add `import webex`, `lint` and `graph` to the `dipflow flow` group."""
    import_app = typer.Typer(help="Import flows from other contact centers.", no_args_is_help=True)
    import_app.command("webex")(import_webex)
    app.add_typer(import_app, name="import")
    app.command("lint")(lint)
    app.command("graph")(graph)
