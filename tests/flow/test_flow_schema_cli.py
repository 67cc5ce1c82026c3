"""The shipped JSON Schema stays in sync; `dipflow flow validate|schema|list|show` behave."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dipflow.cli.main import app
from dipflow.flow.bundled import BundledFlow, list_bundled
from dipflow.flow.schema import SCHEMA_PATH, flow_json_schema, schema_text, shipped_schema_text

HERE = Path(__file__).parent
GOOD = HERE / "good" / "data_dip.yaml"
BAD = HERE / "bad" / "missing_link.yaml"
runner = CliRunner()


def test_shipped_schema_matches_the_model() -> None:
    assert shipped_schema_text() == schema_text(), (
        f"{SCHEMA_PATH} is stale: run `dipflow flow schema > src/dipflow/flow/flow.schema.json`"
    )


def test_schema_lists_each_kinds_outputs() -> None:
    definitions = flow_json_schema()["$defs"]
    condition = definitions["ConditionActivity"]
    assert condition["properties"]["on"]["propertyNames"] == {"enum": ["true", "false", "error"]}
    assert condition["x-required-outputs"] == ["true", "false"]
    menu_on = definitions["MenuActivity"]["properties"]["on"]["propertyNames"]
    assert {"pattern": "^[0-9*#]$"} in menu_on["anyOf"]


def test_schema_command_prints_the_schema() -> None:
    result = runner.invoke(app, ["flow", "schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "dipflow flow (format 1)"
    assert result.stdout == schema_text()


def test_validate_good_file_exits_zero() -> None:
    result = runner.invoke(app, ["flow", "validate", str(GOOD)])
    assert result.exit_code == 0, result.output
    assert f"✓ {GOOD}: flow 'data-dip', 11 activities" in result.stdout


def test_validate_bad_file_prints_located_problems_and_exits_one() -> None:
    result = runner.invoke(app, ["flow", "validate", str(GOOD), str(BAD)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert (
        f"{BAD}:6:11: [start] `next` links to missing activity 'gret' (did you mean 'greet'?)"
        in (lines)
    )
    assert f"{BAD}:13:14: [greet] `on.error` links to missing activity 'nowhere'" in lines
    assert f"✗ {BAD}: 2 problems" in lines
    assert "Traceback" not in result.output


def test_validate_json_output() -> None:
    result = runner.invoke(app, ["flow", "validate", "--json", str(GOOD), str(BAD)])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert [entry["ok"] for entry in document] == [True, False]
    first = document[1]["problems"][0]
    assert (first["line"], first["column"], first["activity"]) == (6, 11, "start")


def test_validate_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = runner.invoke(app, ["flow", "validate", str(missing)])
    assert result.exit_code == 1
    assert f"{missing}: No such file or directory" in result.stdout


@pytest.mark.parametrize("bundled", list_bundled(), ids=lambda b: b.name)
def test_every_bundled_flow_validates(bundled: BundledFlow) -> None:
    result = runner.invoke(app, ["flow", "validate", bundled.name])
    assert result.exit_code == 0, result.stdout


def test_list_shows_bundled_flows() -> None:
    result = runner.invoke(app, ["flow", "list"])
    assert result.exit_code == 0
    for bundled in list_bundled():
        assert bundled.name in result.stdout


def test_show_outlines_activities_in_call_order() -> None:
    result = runner.invoke(app, ["flow", "show", str(GOOD)])
    assert result.exit_code == 0, result.stdout
    out = result.stdout
    assert "ContactName: string  [agent-visible]" in out
    assert out.index("set_ani  set_variable") < out.index("lookup  http_request")
    assert "true → menu" in out
    assert "on agent_answered (start: pop)" in out


def test_show_marks_unreachable_activities(tmp_path: Path) -> None:
    path = tmp_path / "island.yaml"
    path.write_text(
        "name: island\nstart: s\nactivities:\n  s: {kind: start, next: e}\n"
        "  e: {kind: end}\n  lost: {kind: end}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["flow", "show", str(path)])
    assert result.exit_code == 0
    assert "lost  end  (unreachable)" in result.stdout


def test_show_of_a_broken_flow_prints_problems_and_exits_one() -> None:
    result = runner.invoke(app, ["flow", "show", str(BAD)])
    assert result.exit_code == 1
    assert f"{BAD}:6:11:" in result.stdout


def test_validate_a_directory_checks_every_flow_file_in_it() -> None:
    result = runner.invoke(app, ["flow", "validate", str(HERE / "bad")])
    assert result.exit_code == 1
    checked = [line for line in result.stdout.splitlines() if line.startswith("✗ ")]
    assert len(checked) == len(list((HERE / "bad").iterdir()))
    assert any("broken.json" in line for line in checked)
