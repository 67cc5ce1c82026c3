"""Lint a flow file: validation problems, then findings at `file:line:col`. Layer 1 (flow).

The rules see a validated `Flow`, which has no positions; this module validates the
text (so an invalid flow reports exactly what `dipflow flow validate` reports, every
problem in one round), lints the flow, and maps each finding back to the YAML: the
activity, the field, and, for a finding about a name in a one-line template, the
column of that name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import yaml

from dipflow.flow import queueloop
from dipflow.flow.errors import Problem
from dipflow.flow.lint import lint_flow
from dipflow.flow.lint.analysis import MAIN
from dipflow.flow.lint.findings import Finding, Severity
from dipflow.flow.loader import validate_text
from dipflow.flow.model import Flow
from dipflow.flow.voices import VoiceCatalog
from dipflow.flow.yamlsource import YamlDocument, YamlSyntaxError, parse_yaml


@dataclass(frozen=True, slots=True, kw_only=True)
class LintReport:
    flow: Flow | None
    """None when the file does not validate (then `problems` says why)."""
    problems: list[Problem]
    findings: list[Finding]


def lint_text(
    text: str,
    *,
    filename: str,
    minimum: Severity = Severity.INFO,
    voices: VoiceCatalog | None = None,
) -> LintReport:
    """Validate (languages and voices too, given `voices`), then lint; findings carry the
    file and, when found, line and column."""
    flow, problems = validate_text(text, filename=filename, voices=voices)
    if flow is None:
        return LintReport(flow=None, problems=problems, findings=[])
    try:
        document: YamlDocument | None = parse_yaml(text, filename)
    except YamlSyntaxError:  # pragma: no cover - validate_text parsed it already
        document = None
    findings = [locate(f, document, filename) for f in lint_flow(flow, minimum=minimum)]
    return LintReport(flow=flow, problems=[], findings=findings)


def lint_loaded(flow: Flow, *, filename: str, minimum: Severity = Severity.INFO) -> LintReport:
    """Lint a flow that has no YAML of its own (an imported Webex export): file only."""
    findings = [replace(f, file=filename) for f in lint_flow(flow, minimum=minimum)]
    return LintReport(flow=flow, problems=[], findings=findings)


_PART = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def field_loc(field: str) -> tuple[int | str, ...]:
    """`query.$filter` -> ("query", "$filter"); `value[0].name` -> ("value", 0, "name")."""
    loc: list[int | str] = []
    for index, name in _PART.findall(field):
        loc.append(int(index) if index else name)
    return tuple(loc)


def locate(finding: Finding, document: YamlDocument | None, filename: str) -> Finding:
    if document is None or document.root is None or finding.activity is None:
        return replace(finding, file=filename)
    activity = finding.activity
    written = queueloop.generated_from(activity)
    if written is not None and document.node(("activities", activity)) is None:
        activity = written  # expanded from a queue_experience: point at it
    base: tuple[int | str, ...] = ("activities", activity)
    if finding.flow != MAIN:
        base = ("event_flows", finding.flow, "activities", activity)
    loc = (*base, *field_loc(finding.field))
    line, column = document.locate(loc, key=not finding.field)
    node = document.node(loc)
    if finding.name and isinstance(node, yaml.ScalarNode):
        line, column = _name_position(node, finding.name, line, column)
    return replace(finding, file=filename, line=line, column=column)


def _name_position(node: yaml.ScalarNode, name: str, line: int, column: int) -> tuple[int, int]:
    """Where `name` is written inside the scalar's source text, when it can be told."""
    start, end = node.start_mark, node.end_mark
    buffer = start.buffer
    if not isinstance(buffer, str):
        return line, column
    source = buffer[start.index : end.index]
    match = re.search(rf"(?<![\w.]){re.escape(name)}\b", source)
    if match is None:
        return line, column
    before = source[: match.start()]
    newlines = before.count("\n")
    if newlines == 0:
        return start.line + 1, start.column + 1 + match.start()
    return start.line + 1 + newlines, match.start() - before.rfind("\n")
