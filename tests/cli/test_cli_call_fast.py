"""`dipflow call --fast`: the call on the simulator's clock, shaped from the command line
(variables, start time, the demo CRM's faults, latency and records), with a table and a
JSON trace that say what happened and where it went wrong."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from dipflow.cli.main import app

runner = CliRunner()

MENU = """\
name: patience
variables: [{name: Greeting, default: Hello}]
start: start
activities:
  start: {kind: start, next: menu}
  menu:
    kind: menu
    prompt: {text: "{{ Greeting }}, it is {{ NewPhoneContact.StartTime }}. Press 1."}
    choices: {1: one}
    on: {1: bye, no_input: bye, invalid: bye}
  bye: {kind: disconnect_contact}
"""


def _config(tmp_path: Path, flow: str) -> Path:
    (tmp_path / "flow.yaml").write_text(flow, encoding="utf-8")
    config = tmp_path / "dipflow.yaml"
    config.write_text(
        "flows: [{dnis: '*', flow: flow.yaml}]\n"
        "center: {queues: [{name: Support, teams: [support]}]}\n"
        "media: {tts: silent}\n",
        encoding="utf-8",
    )
    return config


def _json(args: list[str]) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["call", "--fast", "--json", *args])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def test_timeouts_take_no_time_on_the_fake_clock(tmp_path: Path) -> None:
    config = _config(tmp_path, MENU)
    started = time.perf_counter()
    code, report = _json(["--config", str(config)])
    elapsed = time.perf_counter() - started
    assert code == 0
    says = [e for e in report["transcript"] if e["kind"] == "say"]
    assert len(says) == 3  # the menu and its two re-prompts after no input
    assert report["transcript"][-1]["at"] > 15  # three 5 s entry timeouts, simulated
    assert elapsed < 10  # wall clock: process start-up on a loaded machine, not the 15 s
    assert report["clock"] == "fast"


def test_var_and_at_shape_the_call_and_ani_has_a_default(tmp_path: Path) -> None:
    config = _config(tmp_path, MENU)
    code, report = _json(
        ["--config", str(config), "--var", "Greeting=Bonjour", "--at", "2026-12-24T19:00+01:00"]
    )
    assert code == 0
    first = report["transcript"][0]["text"]
    assert first == "Bonjour, it is 2026-12-24T18:00:00+00:00. Press 1."
    assert report["ani"] == "+14155550123"


def test_a_bad_var_or_time_is_refused_in_plain_words(tmp_path: Path) -> None:
    config = _config(tmp_path, MENU)
    unknown = runner.invoke(app, ["call", "--fast", "--config", str(config), "--var", "Greting=x"])
    assert unknown.exit_code == 2
    assert "Greting" in unknown.stderr and "Greeting" in unknown.stderr
    bad_time = runner.invoke(app, ["call", "--config", str(config), "--at", "Christmas"])
    assert bad_time.exit_code == 2
    assert "--at takes an ISO 8601 time such as 2026-12-24T19:00+01:00" in bad_time.stderr


def test_a_global_error_names_the_activity_and_the_error(tmp_path: Path) -> None:
    broken = MENU.replace("    on: {1: bye, no_input: bye, invalid: bye}", "    on: {1: odd}")
    broken += "  odd: {kind: condition, expression: '{{ 1 / 0 }}', on: {true: bye, false: bye}}\n"
    config = _config(tmp_path, broken)
    result = runner.invoke(app, ["call", "--fast", "--config", str(config), "--press", "1"])
    assert result.exit_code == 1
    assert (
        "The call went through the global error handler: [odd] condition odd:"
        " ExpressionError: division by zero" in result.stdout
    )
    code, report = _json(["--config", str(config), "--press", "1"])
    assert code == 1 and report["global_error_detail"]["activity"] == "odd"
    (odd,) = [e for e in report["trace"] if e["activity"] == "odd" and e["kind"] == "condition"]
    assert odd["output_taken"] == "error" and "division by zero" in odd["error"]


def test_the_table_shows_each_requests_query_and_the_prompts_language() -> None:
    result = runner.invoke(app, ["call", "--fast", "--hold", "0.5"], env={"COLUMNS": "3000"})
    assert result.exit_code == 0, result.output
    assert "GET dynamics:contacts?$select=contactid,fullname&$filter=(telephone1 eq" in (
        result.stdout
    )
    assert "[en-US] Welcome to customer care." in result.stdout


def test_crm_faults_latency_and_records_without_an_emulator_of_ones_own() -> None:
    # The bundled flow starts the lookup at once and joins it after the welcome prompt.
    _, failing = _json(["--crm-fault", "503", "--hold", "0.5"])
    lookup = next(e for e in failing["trace"] if e["activity"] == "WaitCustomerInfo")
    assert lookup["output_taken"] == "error" and "503" in lookup["error"]

    _, slow = _json(["--crm-latency", "9000", "--hold", "0.5"])
    lookup = next(e for e in slow["trace"] if e["activity"] == "WaitCustomerInfo")
    assert lookup["output_taken"] in ("timeout", "error")  # past the request's budget

    grace = '{"firstname": "Grace", "lastname": "Hopper", "telephone1": "+14155550177"}'
    _, seeded = _json(
        ["--ani", "+14155550177", "--crm-record", f"contacts={grace}", "--hold", "0.5"]
    )
    hello = [e["text"] for e in seeded["transcript"] if e["kind"] == "say"]
    assert any("Grace Hopper" in text for text in hello)


HELLO = """\
name: hello
start: start
activities:
  start: {kind: start, next: hi}
  hi: {kind: play_message, prompt: {text: Hello.}, next: bye}
  bye: {kind: disconnect_contact}
"""


def test_a_flow_that_never_asks_the_crm_runs_without_starting_it(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO, encoding="utf-8")
    code, report = _json(["--flow", str(tmp_path / "hello.yaml")])
    assert code == 0 and report["emulator"] is None
    assert [e["text"] for e in report["transcript"] if e["kind"] == "say"] == ["Hello."]
    table = runner.invoke(app, ["call", "--fast", "--flow", str(tmp_path / "hello.yaml")])
    assert table.exit_code == 0 and "Dataverse emulator" not in table.stdout
    # The bundled flow asks it: it is started, as before.
    _, bundled = _json(["--hold", "0.5"])
    assert bundled["emulator"] is not None and bundled["emulator"].startswith("http://127.0.0.1:")


def test_shaping_a_crm_the_flow_never_asks_is_refused(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO, encoding="utf-8")
    result = runner.invoke(
        app, ["call", "--fast", "--flow", str(tmp_path / "hello.yaml"), "--crm-fault", "503"]
    )
    assert result.exit_code == 2
    assert "shape the demo CRM, and flow" in result.stderr
    assert "never asks it (no HTTP request or variable names connector `dynamics`)" in (
        result.stderr
    )


def test_a_connector_the_zero_configuration_does_not_serve_is_named(tmp_path: Path) -> None:
    flow = HELLO.replace(
        "  hi: {kind: play_message, prompt: {text: Hello.}, next: bye}",
        "  hi: {kind: http_request, connector: salesforce, path: accounts, next: bye}",
    )
    (tmp_path / "crm.yaml").write_text(flow, encoding="utf-8")
    result = runner.invoke(app, ["call", "--fast", "--flow", str(tmp_path / "crm.yaml")])
    assert result.exit_code == 2
    assert "uses connector(s) salesforce; without --config only connector `dynamics`" in (
        result.stderr
    )


def test_a_flow_that_does_not_load_gets_validates_lines_on_the_same_stream() -> None:
    beginner = str(Path(__file__).resolve().parents[2] / "examples/flows/beginner_mistakes.yaml")
    # The call renders no speech: its voices are `validate`'s to check (`--tts none`: not).
    validate = runner.invoke(app, ["flow", "validate", "--tts", "none", beginner])
    called = runner.invoke(app, ["call", "--fast", "--flow", beginner])
    assert called.exit_code == 2  # bad input for a call (validate's own exit is 1)
    assert called.stdout == validate.stdout and called.stderr == ""
    assert len(called.stdout.splitlines()) == 8  # seven problems and the summary
