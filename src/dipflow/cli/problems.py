"""How every `dipflow flow` command prints problems and findings. Layer 7 (command line).

One stream and one shape for all of them (`validate`, `show`, `lint`, `graph`, `say`, and
`dipflow call` for a flow that does not load):
standard output, one problem per line, `file:line:col: ...`, never wrapped (piped to a
file or read by CI, a line stays whole and an editor can jump to it). Colour only on a
terminal (rich drops it otherwise). Notes about the run itself (`wrote out.svg`) go to
standard error, so they never mix with a report.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from dipflow.flow.errors import Problem
from dipflow.flow.lint.findings import Finding, Severity


def report_console() -> Console:
    # soft_wrap: a line longer than the terminal stays one line (grep-able, clickable).
    return Console(soft_wrap=True, highlight=False)


def notes_console() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def print_problems(console: Console, problems: Sequence[Problem]) -> None:
    for problem in problems:
        line = Text()
        line.append(problem.where(), style="bold")
        line.append(": ")
        if problem.activity:
            line.append(f"[{problem.activity}] ", style="cyan")
        line.append(problem.message, style="red")
        console.print(line)


def print_failed(console: Console, file: str, problems: Sequence[Problem]) -> None:
    print_problems(console, problems)
    count = len(problems)
    console.print(Text(f"✗ {file}: {count} problem{'s' if count != 1 else ''}", style="bold red"))


_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}


def print_findings(console: Console, file: str, findings: Sequence[Finding]) -> None:
    if not findings:
        console.print(Text(f"✓ {file}: no findings", style="green"))
        return
    for finding in findings:
        line = Text()
        where = finding.where()
        if where:
            line.append(where, style="bold")
            line.append(": ")
        style = _STYLE[finding.severity]
        line.append(f"{finding.severity.label}: ", style=style)
        who = finding.activity or "-"
        if finding.flow != "main":
            who = f"{finding.flow}/{who}"
        line.append(f"[{who}] ", style="cyan")
        line.append(finding.message)
        line.append(f" ({finding.rule})", style="dim")
        line.append(f"; fix: {finding.hint}", style="dim")
        console.print(line)
    count = len(findings)
    console.print(Text(f"{file}: {count} finding{'s' if count != 1 else ''}", style="bold"))
