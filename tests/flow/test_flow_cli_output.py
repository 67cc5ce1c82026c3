"""What `dipflow flow validate | lint | graph | show` print, as a CI log or a file gets it:
one problem per line with `file:line:col` intact however long, the same lines from every
command, all on standard output."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dipflow.cli.main import app

runner = CliRunner()

BROKEN = """\
name: broken
start: start
activities:
  start: {kind: start, next: menu}
  menu:
    kind: menu
    prompt: {text: "{{ Language | uper }} — a prompt long enough that a terminal wraps it"}
    choices: {1: one}
    on: {1: bye, no_input: bye, invalid: bye}
  bye: {kind: disconnect_contact}
  extra: {kind: end, next: nowhere}
"""

UNKNOWN_NAME = """\
name: lint-me
variables: [{name: ContactName, default: ""}]
start: start
activities:
  start: {kind: start, next: greet}
  greet:
    kind: play_message
    prompt: {text: "Hello {{ ContactNmae }}, thank you for calling the customer care line"}
    next: bye
  bye: {kind: disconnect_contact}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_lint_and_graph_report_validation_problems_exactly_as_validate(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.yaml", BROKEN)
    validate = runner.invoke(app, ["flow", "validate", str(path)])
    lint = runner.invoke(app, ["flow", "lint", str(path)])
    graph = runner.invoke(app, ["flow", "graph", str(path)])
    show = runner.invoke(app, ["flow", "show", str(path)])
    lines = validate.stdout.splitlines()
    assert lines == [
        f"{path}:7:35: [menu] bad expression in `text`: unknown filter `uper` (did you mean"
        " `upper`?)",
        f"{path}:11:22: [extra] `next` is not allowed on a end: wire its outputs with `on`",
        f"✗ {path}: 2 problems",
    ]
    for result in (validate, lint, graph, show):
        assert result.exit_code == 1
        assert result.stdout.splitlines() == lines
        assert result.stderr == ""


def test_lint_findings_are_one_line_each_when_piped(tmp_path: Path) -> None:
    path = _write(tmp_path, "names.yaml", UNKNOWN_NAME)
    result = runner.invoke(app, ["flow", "lint", str(path)], terminal_width=80)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}:8:30: error: [greet] `prompt.text` reads `ContactNmae`, which no variable or"
        " activity defines (did you mean `ContactName`?) (unknown-name); fix: declare it under"
        " `variables:` or fix the spelling",
        f"{path}: 1 finding",
    ]
    assert result.stderr == ""


def test_validate_checks_languages_and_voices_against_espeak_unless_told_not_to(
    tmp_path: Path,
) -> None:
    text = UNKNOWN_NAME.replace("ContactNmae", "ContactName").replace(
        "prompt: {text:", "prompt: {voice: Anie, text:"
    )
    path = _write(tmp_path, "voice.yaml", text)
    result = runner.invoke(app, ["flow", "validate", str(path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        f"{path}:8:21: [greet] espeak-ng has no voice `Anie` (did you mean `Annie`?)"
    )
    unchecked = runner.invoke(app, ["flow", "validate", "--tts", "none", str(path)])
    assert unchecked.exit_code == 0
