"""The flows in examples/flows/ do what their comments say: they validate (voices too)
and lint clean, each runs with `dipflow call --fast` in well under a second of call time,
the beginner's flow gets exactly its expected messages, and the example pytest file
passes."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dipflow.cli.main import app
from dipflow.flow.lint.findings import Severity
from dipflow.flow.lint.located import lint_text
from dipflow.flow.loader import validate_text
from dipflow.media.tts import espeak_catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "flows"
GOOD = ["hello", "language_menu", "account_lookup", "business_hours"]
runner = CliRunner()


@pytest.mark.parametrize("name", GOOD)
def test_the_example_validates_and_lints_without_errors(name: str) -> None:
    path = EXAMPLES / f"{name}.yaml"
    text = path.read_text(encoding="utf-8")
    flow, problems = validate_text(text, filename=str(path), voices=espeak_catalog())
    assert problems == [] and flow is not None
    report = lint_text(text, filename=str(path), minimum=Severity.WARNING)
    assert [str(f) for f in report.findings] == []


def _fast(name: str, *args: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    result = runner.invoke(
        app, ["call", "--fast", "--json", "--flow", str(EXAMPLES / f"{name}.yaml"), *args]
    )
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), elapsed


def _says(report: dict[str, Any]) -> list[str]:
    return [e["text"] for e in report["transcript"] if e["kind"] == "say"]


def test_hello() -> None:
    report, _ = _fast("hello")
    assert _says(report) == ["Hello, and thank you for calling.", "Goodbye."]
    assert report["path"] == ["start", "hello", "goodbye", "hang_up"]


def test_the_language_chosen_is_the_language_of_every_later_prompt() -> None:
    report, _ = _fast("language_menu", "--press", "2")
    spoken = [
        (e["text"], e["detail"]["language"], e["detail"]["voice"])
        for e in report["transcript"]
        if e["kind"] == "say"
    ]
    assert spoken[0][1] == "en-US"
    assert spoken[0][0] == "For English, press 1. Für Deutsch drücken Sie die 2."
    assert {(language, voice) for _, language, voice in spoken[1:]} == {("de-DE", "f2")}
    assert "Ich habe nichts gehört." in [text for text, _, _ in spoken]  # the re-prompt too


def test_an_account_number_is_looked_up_in_the_demo_crm() -> None:
    report, _ = _fast("account_lookup", "--press", "1001#")
    assert _says(report)[1] == "Account 1 0 0 1 belongs to Contoso Ltd."
    request = next(e for e in report["transcript"] if e["kind"] == "request")
    assert request["detail"]["query"]["$filter"] == "accountnumber eq 'ACC-1001'"


@pytest.mark.parametrize(
    ("at", "heard"),
    [
        ("2026-12-21T10:00+01:00", "Guten Tag. Sie werden gleich verbunden."),
        ("2026-12-21T20:00+01:00", "Wir sind montags bis freitags von 8 bis 18 Uhr für Sie da."),
        (
            "2026-12-24T10:00+01:00",
            "Frohe Feiertage. Wir sind ab dem 28. Dezember wieder für Sie da.",
        ),
    ],
    ids=["open", "closed", "holiday"],
)
def test_business_hours_at_the_time_given(at: str, heard: str) -> None:
    report, _ = _fast("business_hours", "--at", at, "--hold", "1")
    assert _says(report)[0].startswith(heard)


def test_each_example_call_runs_in_well_under_a_second_of_call_time() -> None:
    # The simulated calls last seconds to half a minute; running them must not.
    from dipflow.cli.demo import running_emulator
    from dipflow.cli.fastcall import run_fast
    from dipflow.runtime.demo import demo_config, demo_environ

    with running_emulator() as emulator:
        for name, presses in [
            ("hello", []),
            ("language_menu", ["2"]),
            ("account_lookup", ["1001#"]),
            ("business_hours", []),
        ]:
            cfg = demo_config(emulator=emulator, tts="silent", flow=str(EXAMPLES / f"{name}.yaml"))
            started = time.perf_counter()
            fast = run_fast(
                cfg,
                demo_environ(emulator),
                ani="+14155550123",
                dnis="+18005550100",
                presses=presses,
                agent_answer=False,
                hold_s=1.0,
                start_time=None,
                variables={},
                latency_s=None,
                max_time=120.0,
            )
            elapsed = time.perf_counter() - started
            assert fast.result.finished, name
            assert elapsed < 1.0, f"{name}: {elapsed:.3f} s"


HEAVY = (
    "uvicorn",
    "fastapi",
    "PIL",
    "msal",
    "prometheus_client",
    "dipflow.emulator.app",
    "dipflow.channels.sip.server",
    "dipflow.media.prompts",
    "dipflow.web",
)
"""Modules a `--fast` call of a flow that never asks the demo CRM has no use for: the
emulator's web server and app, Pillow, MSAL, metrics, the SIP stack, speech, the web app."""

_RUN = """
import json, sys
from dipflow.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit as done:
    code = done.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "args", "asks_crm"),
    [
        ("hello", [], False),
        ("language_menu", ["--press", "2"], False),
        ("account_lookup", ["--press", "1001#"], True),
        ("business_hours", ["--at", "2026-12-21T10:00+01:00", "--hold", "1"], False),
    ],
)
def test_the_command_loads_only_what_the_call_needs(
    name: str, args: list[str], asks_crm: bool
) -> None:
    # What keeps `dipflow call --fast` under a second (docs/flows.md has the times): the
    # demo CRM only for the flow that asks it, and no module the call does not use. Its
    # own process, as a user runs it: a test run has imported everything already.
    # Times themselves are not asserted: on a machine shared with busy neighbours even
    # processor time swings by half.
    command = [sys.executable, "-c", _RUN, "call", "--fast", "--json"]
    command += ["--flow", str(EXAMPLES / f"{name}.yaml"), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    ran = json.loads(done.stderr.strip().splitlines()[-1])
    assert ran["code"] in (0, None), done.stderr
    assert (json.loads(done.stdout)["emulator"] is not None) is asks_crm
    loaded = set(ran["modules"])
    needed_for_the_crm = {"uvicorn", "dipflow.emulator.app"} if asks_crm else set()
    assert {m for m in HEAVY if m in loaded} == needed_for_the_crm


def test_the_beginners_flow_gets_exactly_its_expected_messages() -> None:
    path = EXAMPLES / "beginner_mistakes.yaml"
    text = path.read_text(encoding="utf-8")
    expected = [m.group(1) for m in re.finditer(r"^# expect: (.+)$", text, re.M)]
    assert len(expected) == 8
    result = runner.invoke(app, ["flow", "validate", str(path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"{path}:{line}" for line in expected] + [
        f"✗ {path}: 8 problems"
    ]


def _example_tests() -> list[tuple[str, Callable[[], None]]]:
    spec = importlib.util.spec_from_file_location(
        "example_account_tests", EXAMPLES / "test_account_lookup.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(n, getattr(module, n)) for n in dir(module) if n.startswith("test_")]


@pytest.mark.parametrize(("name", "test"), _example_tests(), ids=lambda x: str(x))
def test_the_example_pytest_file_passes(name: str, test: Callable[[], None]) -> None:
    test()
