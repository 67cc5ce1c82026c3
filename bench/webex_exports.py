"""Survey: how far real Flow Designer exports get through dipflow.

    .venv/bin/python bench/webex_exports.py [DIR ...] [--queue ID=NAME] [--json]

For every `*.json` export in the directories (default: tests/webex/exports, the
public exports copied into the repository) it tries, in order:

1. a strict import (no `--allow-partial`), with the queue/connector mappings given;
2. loading the YAML the import writes (`load_flow_text` on the dumped document);
3. lint (errors only);
4. one simulated call with no caller input, every HTTP request failing (offline),
   an agent answering after 30 s if the call is queued. A flow whose menu waits for
   the caller for ever shows "still running": tests/webex/test_real_exports.py plays
   each export with the caller input its authors meant.

`--map-all-queues` maps every queue id to a stand-in name (as `--queue ID=NAME` would).

It prints a table per export and, below it, which activity kinds and properties
stopped the strict imports, most frequent first: what to implement next.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from dipflow.flow.lint import Severity, lint_flow
from dipflow.flow.loader import load_flow_text
from dipflow.flow.webex import WebexImportError, import_webex_file
from dipflow.flow.webex.activities import ImportOptions
from dipflow.testing import answer, run_flow

DEFAULT_DIRS = (Path(__file__).resolve().parent.parent / "tests" / "webex" / "exports",)


@dataclass(slots=True)
class Outcome:
    file: str
    imported: bool = False
    loaded: bool = False
    lint_errors: int = 0
    ran: bool = False
    end: str = ""
    problems: list[str] = field(default_factory=list)


def _pairs(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, _, mapped = value.partition("=")
        out[key] = mapped
    return out


def survey(path: Path, options: ImportOptions, *, map_all: bool = False) -> Outcome:
    outcome = Outcome(file=path.name)
    try:
        result = import_webex_file(path, options=options)
        if map_all and result.flow.queues:
            # Stand-in names for every queue id: what a user's `--queue ID=NAME` gives.
            queue_map = {q: f"queue-{n}" for n, q in enumerate(result.flow.queues, start=1)}
            options = ImportOptions(
                queue_map={**queue_map, **options.queue_map},
                connector_map=options.connector_map,
            )
            result = import_webex_file(path, options=options)
    except WebexImportError as exc:
        outcome.problems = [p.message for p in exc.problems]
        return outcome
    outcome.imported = True
    text = yaml.safe_dump(result.document, sort_keys=False, allow_unicode=True)
    try:
        flow = load_flow_text(text, filename=path.name + ".yaml")
    except Exception as exc:  # the survey reports every failure, whatever its type
        outcome.problems = [f"load: {exc}"]
        return outcome
    outcome.loaded = True
    errors = [f for f in lint_flow(flow) if f.severity >= Severity.ERROR]
    outcome.lint_errors = len(errors)
    outcome.problems += [f"lint: {f.rule} {f.activity}: {f.message}" for f in errors]
    sim = run_flow(flow, agent=[answer(after=30)], max_time=900)
    global_errors = [e for e in sim.trace if e.kind == "global_error"]
    outcome.ran = sim.finished or bool(sim.queued) or sim.disconnected
    outcome.ran = outcome.ran and not global_errors
    if global_errors:
        outcome.problems += [
            f"call: global error at {e.activity}: {e.error}" for e in global_errors
        ]
    outcome.end = (
        f"queued {','.join(sim.queued)}"
        if sim.queued
        else "disconnected"
        if sim.disconnected
        else "finished"
        if sim.finished
        else "still running"
    )
    return outcome


_KIND = re.compile(r"activity kind '([^']+)'")
_PROPS = re.compile(r"unsupported properties: (.*)")


def blockers(outcomes: list[Outcome]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for outcome in outcomes:
        for problem in set(outcome.problems):
            if match := _KIND.search(problem):
                counted[f"activity {match.group(1)}"] += 1
            elif match := _PROPS.search(problem):
                for prop in match.group(1).split(", "):
                    counted[f"property {prop}"] += 1
            else:
                counted[re.sub(r"'[^']*'", "'…'", problem)[:100]] += 1
    return counted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="*", type=Path)
    parser.add_argument("--queue", action="append", default=[], help="ID=NAME")
    parser.add_argument("--connector", action="append", default=[], help="WEBEX=DIPFLOW")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--map-all-queues", action="store_true", help="map every queue id to a stand-in name"
    )
    args = parser.parse_args(argv)
    options = ImportOptions(queue_map=_pairs(args.queue), connector_map=_pairs(args.connector))
    files = sorted(p for d in (args.dirs or DEFAULT_DIRS) for p in Path(d).glob("*.json"))
    outcomes = [survey(path, options, map_all=args.map_all_queues) for path in files]
    if args.json:
        json.dump([asdict(o) for o in outcomes], sys.stdout, indent=2)
        return 0
    console = Console(width=160)
    table = Table("export", "import", "load", "lint errors", "call", "end")
    for o in outcomes:
        table.add_row(
            o.file,
            "yes" if o.imported else "no",
            "yes" if o.loaded else "-",
            str(o.lint_errors) if o.loaded else "-",
            "yes" if o.ran else "-",
            o.end,
        )
    console.print(table)
    counted = blockers(outcomes)
    console.print("[bold]What stops them[/] (exports affected):")
    for what, n in counted.most_common():
        console.print(f"  {n:3d}  {what}")
    imported = sum(o.imported for o in outcomes)
    ran = sum(o.ran for o in outcomes)
    console.print(f"{imported}/{len(outcomes)} import strictly, {ran}/{len(outcomes)} run a call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
