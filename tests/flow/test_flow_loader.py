"""Loading flow files: the good fixture loads, each bad fixture reports exactly its problems.

Each file in tests/flow/bad/ ends with `# expect: LINE:COL: [activity] message`
comments: the problems the loader must report, in order, and nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dipflow.flow.errors import FlowError, Problem
from dipflow.flow.loader import load_flow, load_flow_text, validate_text
from dipflow.flow.model import ConditionActivity, MenuActivity
from dipflow.flow.yamlsource import YamlSyntaxError, load_yaml_with_locations, parse_yaml

HERE = Path(__file__).parent
GOOD = HERE / "good" / "data_dip.yaml"
BAD_YAML = sorted((HERE / "bad").glob("*.yaml"))


def _expected(path: Path) -> list[str]:
    prefix = "# expect: "
    lines = path.read_text(encoding="utf-8").splitlines()
    return [f"{path}:{line.removeprefix(prefix)}" for line in lines if line.startswith(prefix)]


def test_good_flow_loads_with_yaml_keys_as_written() -> None:
    flow = load_flow(GOOD)
    assert flow.name == "data-dip"
    known = flow.activities["known"]
    assert isinstance(known, ConditionActivity)
    # `true:`/`false:` and `on:` are YAML 1.1 booleans; a flow means the words.
    assert known.wiring() == {"true": "menu", "false": "greet"}
    menu = flow.activities["menu"]
    assert isinstance(menu, MenuActivity)
    assert menu.choices == {"1": "agent", "2": "hang up"}
    assert flow.event_flows["agent_answered"].start == "pop"


def test_good_flow_as_json_loads_too() -> None:
    data = parse_yaml(GOOD.read_text(encoding="utf-8"), str(GOOD)).data
    flow = load_flow_text(json.dumps(data, indent="\t"), filename="data_dip.json")
    assert flow == load_flow(GOOD)


@pytest.mark.parametrize("path", BAD_YAML, ids=lambda p: p.name)
def test_bad_flow_reports_every_problem_at_its_place(path: Path) -> None:
    expected = _expected(path)
    assert expected, f"{path.name} has no `# expect:` lines"
    with pytest.raises(FlowError) as caught:
        load_flow(path)
    assert [str(problem) for problem in caught.value.problems] == expected
    assert str(caught.value) == "\n".join(expected)


def test_broken_json_reports_the_json_position() -> None:
    path = HERE / "bad" / "broken.json"
    with pytest.raises(FlowError) as caught:
        load_flow(path)
    assert [str(p) for p in caught.value.problems] == [f"{path}:6:5: Expecting ',' delimiter"]


def test_missing_file_is_a_flow_error_not_an_os_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(FlowError) as caught:
        load_flow(missing)
    assert str(caught.value) == f"{missing}: No such file or directory"


def test_non_utf8_file_is_a_flow_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(FlowError, match="not UTF-8"):
        load_flow(path)


def test_validate_text_returns_problems_without_raising() -> None:
    flow, problems = validate_text("name: x\nstart: s\nactivities: {}\n", filename="x.yaml")
    assert flow is None
    assert problems == [
        Problem(
            file="x.yaml",
            line=2,
            column=8,
            path="start",
            message="`start` names 's', which is not an activity",
        )
    ]


def test_problem_to_dict_is_json_ready() -> None:
    _, problems = validate_text("name: x\nstart: s\nactivities: {}\n", filename="x.yaml")
    assert json.loads(json.dumps(problems[0].to_dict()))["line"] == 2


def test_empty_file_is_reported() -> None:
    with pytest.raises(FlowError, match=r"^e\.yaml:1:1: a flow file is a mapping"):
        load_flow_text("", filename="e.yaml")


def test_load_yaml_with_locations_maps_pydantic_locs() -> None:
    text = "web:\n  port: 80\n  hosts:\n    - a\n    - b\n"
    data, locate = load_yaml_with_locations(text, "cfg.yaml")
    assert data == {"web": {"port": 80, "hosts": ["a", "b"]}}
    assert locate(("web", "port")) == (2, 9)
    assert locate(("web", "hosts", 1)) == (5, 7)
    # Parts that are not in the document (a pydantic union tag) are skipped.
    assert locate(("web", "int", "port")) == (2, 9)


def test_yaml_syntax_error_has_a_position() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        load_yaml_with_locations("a: [1, 2\nb: 3\n", "x.yaml")
    assert (caught.value.line, caught.value.column) == (2, 2)


def test_aliases_and_merge_keys_still_work() -> None:
    text = "base: &b {kind: end}\nactivities:\n  x:\n    <<: *b\n    label: X\n"
    document = parse_yaml(text, "m.yaml")
    assert document.data["activities"]["x"] == {"kind": "end", "label": "X"}
    assert document.duplicate_keys == ()
