"""`dipflow flow validate | schema | list | show`: check, describe and inspect flow files.

Problems print compiler style (`file:line:col: [activity] message`), one per
line, never a traceback; `validate` exits 1 when any file has a problem.
Layer 7 (command line).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from dipflow.cli.problems import print_failed, report_console
from dipflow.flow.bundled import bundled_path, list_bundled
from dipflow.flow.errors import FlowError, Problem
from dipflow.flow.loader import read_flow_file, validate_text
from dipflow.flow.model import Flow
from dipflow.flow.outline import outline
from dipflow.flow.schema import schema_text
from dipflow.flow.voices import VoiceCatalog


def _console() -> Console:
    return report_console()


def resolve_flow(name: str) -> Path:
    """A path as given, or the bundled flow of that name when no such file exists."""
    path = Path(name)
    if path.exists():
        return path
    try:
        return bundled_path(name)
    except LookupError:
        return path


FLOW_SUFFIXES = (".yaml", ".yml", ".json")


def _expand(names: list[str]) -> list[str]:
    """Directories become the flow files below them (sorted); other names stay."""
    expanded: list[str] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in FLOW_SUFFIXES)
            expanded.extend(str(p) for p in found)
        else:
            expanded.append(name)
    return expanded


class TtsChoice(StrEnum):
    ESPEAK = "espeak-ng"
    NONE = "none"


TTS_OPTION = typer.Option(
    "--tts",
    help="Check languages and voices against this TTS engine (none: do not check).",
)


def voice_catalog(tts: TtsChoice) -> VoiceCatalog | None:
    """The voices of the TTS engine prompts will be spoken with (dipflow ships espeak-ng)."""
    if tts is TtsChoice.NONE:
        return None
    from dipflow.media.tts import espeak_catalog

    return espeak_catalog()


def _validate_file(
    name: str, voices: VoiceCatalog | None = None
) -> tuple[str, Flow | None, list[Problem]]:
    path = resolve_flow(name)
    try:
        text = read_flow_file(path)
    except FlowError as exc:
        return str(path), None, exc.problems
    flow, problems = validate_text(text, filename=str(path), voices=voices)
    return str(path), flow, problems


def validate(
    files: Annotated[
        list[str],
        typer.Argument(help="Flow files, directories of them, or bundled flow names."),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the results as JSON instead.")
    ] = False,
    tts: Annotated[TtsChoice, TTS_OPTION] = TtsChoice.ESPEAK,
) -> None:
    """Check flow files: schema, links, outputs, expressions, JSONPaths, languages and voices.
    Exit 1 on problems."""
    voices = voice_catalog(tts)
    results = [_validate_file(name, voices) for name in _expand(files)]
    failed = any(problems for _, _, problems in results)
    if as_json:
        document = [
            {
                "file": file,
                "ok": not problems,
                "problems": [problem.to_dict() for problem in problems],
            }
            for file, _, problems in results
        ]
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        console = _console()
        for file, flow, problems in results:
            if problems:
                print_failed(console, file, problems)
            elif flow is not None:
                activities = len(flow.activities) + sum(
                    len(event.activities) for event in flow.event_flows.values()
                )
                console.print(
                    Text(f"✓ {file}: flow {flow.name!r}, {activities} activities", style="green")
                )
    if failed:
        raise typer.Exit(code=1)


def schema() -> None:
    """Print the JSON Schema of flow files (for editors: yaml-language-server, VS Code)."""
    typer.echo(schema_text(), nl=False)


def list_flows() -> None:
    """List the flows shipped with dipflow."""
    console = _console()
    bundled_flows = list_bundled()
    if not bundled_flows:
        console.print("no bundled flows")
        return
    for bundled in bundled_flows:
        _, flow, problems = _validate_file(str(bundled.path))
        line = Text(bundled.name, style="bold cyan")
        if flow is not None:
            description = " ".join(flow.description.split())
            line.append(f"  {description}" if description else "")
        else:
            line.append(f"  invalid: {len(problems)} problems", style="red")
        line.append(f"\n    {bundled.path}", style="dim")
        console.print(line, crop=False)


def show(
    file: Annotated[str, typer.Argument(help="A flow file (or bundled flow name).")],
    tts: Annotated[TtsChoice, TTS_OPTION] = TtsChoice.ESPEAK,
) -> None:
    """Print a readable outline of a flow: activities in call order, with their wiring."""
    console = _console()
    path, flow, problems = _validate_file(file, voice_catalog(tts))
    if flow is None:
        print_failed(console, path, problems)
        raise typer.Exit(code=1)
    header = Text(f"{flow.name}", style="bold")
    header.append(f"  ({path})", style="dim")
    if flow.description:
        header.append(f"\n{flow.description.strip()}")
    console.print(header)
    if flow.variables:
        variables = Tree(Text("variables", style="bold"))
        for variable in flow.variables:
            flags = [
                flag
                for flag, on in (
                    ("agent-visible", variable.agent_visible),
                    ("agent-editable", variable.agent_editable),
                    ("reportable", variable.reportable),
                    ("secure", variable.secure),
                )
                if on
            ]
            default = "" if variable.default is None else f" = {variable.default!r}"
            extra = f"  [{', '.join(flags)}]" if flags else ""
            variables.add(Text(f"{variable.name}: {variable.type.value}{default}{extra}"))
        console.print(variables, crop=False)
    for graph in outline(flow):
        tree = Tree(Text(f"{graph.title} (start: {graph.start})", style="bold"))
        for item in graph.items:
            label = Text()
            label.append(item.ident, style="cyan" if item.reachable else "dim")
            label.append(f"  {item.kind}", style="magenta")
            if item.summary:
                label.append(f"  {item.summary}")
            if not item.reachable:
                label.append("  (unreachable)", style="yellow")
            node = tree.add(label)
            for output, target in item.wiring:
                node.add(Text(f"{output} → {target}", style="dim"))
        console.print(tree, crop=False)


def register(app: typer.Typer) -> None:
    """Add `validate`, `schema`, `list` and `show` to the `dipflow flow` group."""
    app.command("validate")(validate)
    app.command("schema")(schema)
    app.command("list")(list_flows)
    app.command("show")(show)
