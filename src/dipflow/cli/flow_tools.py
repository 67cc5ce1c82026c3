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

from dipflow.cli.flow_core import TTS_OPTION, TtsChoice, voice_catalog
from dipflow.cli.problems import print_failed, print_findings, report_console
from dipflow.flow.errors import FlowError, Problem
from dipflow.flow.lint import Severity
from dipflow.flow.lint.located import lint_loaded, lint_text
from dipflow.flow.loader import read_flow_file, validate_text
from dipflow.flow.model import Flow
from dipflow.flow.voices import VoiceCatalog
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


def _report_import_error(exc: WebexImportError, export: Path) -> None:
    # Problems go where every flow command puts them: stdout, one per line.
    print_failed(report_console(), str(export), exc.problems)


def _webex_export(path: Path) -> bool:
    if path.suffix.lower() != ".json":
        return False
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(head, dict) and "process" in head


def load_any_flow(path: Path, options: ImportOptions | None = None) -> Flow:
    """A native flow file, or a Webex export (imported on the fly; activities dipflow
    cannot run become stubs, which lint reports as errors)."""
    if _webex_export(path):
        return import_webex_file(path, options=options, allow_partial=True).flow
    from dipflow.flow.loader import load_flow

    return load_flow(path)


def _problems_or_exit(problems: list[Problem], path: Path) -> None:
    """Print a flow's problems as `validate` does (same lines, same stream) and exit 1."""
    if problems:
        print_failed(report_console(), str(path), problems)
        raise typer.Exit(1)


def _read_or_exit(path: Path) -> str:
    try:
        return read_flow_file(path)
    except FlowError as exc:
        _problems_or_exit(exc.problems, path)
        raise  # pragma: no cover - _problems_or_exit exits


def _load_or_exit(
    path: Path, voices: VoiceCatalog | None = None, options: ImportOptions | None = None
) -> Flow:
    if _webex_export(path):
        try:
            return import_webex_file(path, options=options, allow_partial=True).flow
        except WebexImportError as exc:
            _problems_or_exit(exc.problems, path)
    flow, problems = validate_text(_read_or_exit(path), filename=str(path), voices=voices)
    _problems_or_exit(problems, path)
    assert flow is not None  # no problems: a flow
    return flow


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
        list[str] | None,
        typer.Option(help="Map a Webex queue name or id: WEBEX=DIPFLOW (repeatable)."),
    ] = None,
) -> None:
    """Import a Webex Contact Center Flow Designer export as a native YAML flow."""
    options = ImportOptions(
        connector_map=_pairs(connector, "--connector"), queue_map=_pairs(queue, "--queue")
    )
    try:
        result = import_webex_file(export, options=options, allow_partial=allow_partial)
    except WebexImportError as exc:
        _report_import_error(exc, export)
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


def export_webex_command(
    flow_file: Annotated[Path, typer.Argument(help="A dipflow flow (YAML/JSON).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the export here (default: stdout).")
    ] = None,
) -> None:
    """Write a dipflow flow as a Webex Flow Designer export (JSON)."""
    from dipflow.flow.webex.exporter import export_webex

    flow = _load_or_exit(flow_file)
    try:
        export = export_webex(flow)
    except WebexImportError as exc:
        print_failed(report_console(), str(flow_file), exc.problems)
        raise typer.Exit(1) from None
    text = json.dumps(export, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        errors.print(f"[green]exported[/green] {escape(str(output))}")


def _threshold(fail_on: FailOn) -> Severity | None:
    return None if fail_on is FailOn.NEVER else Severity[fail_on.name]


def lint(
    flow_file: Annotated[Path, typer.Argument(help="A flow file (YAML/JSON) or a Webex export.")],
    as_json: Annotated[bool, typer.Option("--json", help="Findings as JSON.")] = False,
    fail_on: Annotated[
        FailOn, typer.Option(help="Exit 1 when a finding is at least this severe.")
    ] = FailOn.WARNING,
    show_info: Annotated[bool, typer.Option(help="Also list info findings.")] = False,
    connector: Annotated[
        list[str] | None,
        typer.Option(help="For a Webex export: map a connector, WEBEX=DIPFLOW (repeatable)."),
    ] = None,
    queue: Annotated[
        list[str] | None,
        typer.Option(help="For a Webex export: map a queue name or id, WEBEX=DIPFLOW."),
    ] = None,
    tts: Annotated[TtsChoice, TTS_OPTION] = TtsChoice.ESPEAK,
) -> None:
    """Report what would fail callers: unwired errors, unsafe queries, menus, music loops...

    A flow that does not validate gets `validate`'s problems (all of them) and exit 1."""
    options = ImportOptions(
        connector_map=_pairs(connector, "--connector"), queue_map=_pairs(queue, "--queue")
    )
    minimum = Severity.INFO if show_info or fail_on is FailOn.INFO else Severity.WARNING
    voices = voice_catalog(tts)
    if _webex_export(flow_file):
        flow = _load_or_exit(flow_file, options=options)
        report = lint_loaded(flow, filename=str(flow_file), minimum=minimum)
    else:
        text = _read_or_exit(flow_file)
        report = lint_text(text, filename=str(flow_file), minimum=minimum, voices=voices)
        _problems_or_exit(report.problems, flow_file)
    findings = report.findings
    if as_json:
        sys.stdout.write(json.dumps([f.as_dict() for f in findings], indent=2) + "\n")
    else:
        print_findings(report_console(), str(flow_file), findings)
    threshold = _threshold(fail_on)
    if threshold is not None and any(f.severity >= threshold for f in findings):
        raise typer.Exit(1)


def graph(
    flow_file: Annotated[Path, typer.Argument(help="A flow file (YAML/JSON) or a Webex export.")],
    fmt: Annotated[GraphFormat, typer.Option("--format", "-f")] = GraphFormat.MERMAID,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Output file (default: stdout, text).")
    ] = None,
) -> None:
    """Draw the flow (main flow and event flows, outputs labelled), with no network.

    A flow that does not validate gets `validate`'s problems (all of them) and exit 1."""
    from dipflow.flow.graph import to_mermaid, to_png, to_svg  # Pillow: only when drawing

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
    export_app = typer.Typer(help="Export flows to other contact centers.", no_args_is_help=True)
    export_app.command("webex")(export_webex_command)
    app.add_typer(export_app, name="export")
    app.command("lint")(lint)
    app.command("graph")(graph)
