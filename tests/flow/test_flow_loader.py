"""Loading flow files: the good fixture loads, each bad fixture reports exactly its problems.

Each file in tests/flow/bad/ ends with `# expect: LINE:COL: [activity] message`
comments: the problems the loader must report, in order, and nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    assert (caught.value.line, caught.value.column) == (1, 4)  # the unclosed `[`


def test_aliases_and_merge_keys_still_work() -> None:
    text = "base: &b {kind: end}\nactivities:\n  x:\n    <<: *b\n    label: X\n"
    document = parse_yaml(text, "m.yaml")
    assert document.data["activities"]["x"] == {"kind": "end", "label": "X"}
    assert document.duplicate_keys == ()


def test_docs_example_flow_validates() -> None:
    docs = (HERE.parents[1] / "docs" / "flows.md").read_text(encoding="utf-8")
    example = docs.split("## A small example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    flow = load_flow_text(example, filename="docs/flows.md")
    assert flow.name == "greet-and-queue"


def test_alias_bomb_is_refused_before_anything_walks_it() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 8):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    with pytest.raises(FlowError, match=r"^bomb\.yaml:1:1: the document expands to more than"):
        load_flow_text("\n".join(lines), filename="bomb.yaml")


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(FlowError, match=r"^r\.yaml:1:4: recursive alias"):
        load_flow_text("a: &a [*a]\n", filename="r.yaml")


def test_deep_nesting_is_a_problem_not_a_crash() -> None:
    with pytest.raises(FlowError, match="nested too deeply"):
        load_flow_text("a: " + "[" * 700 + "]" * 700, filename="deep.yaml")


def test_python_tags_are_refused() -> None:
    with pytest.raises(FlowError, match="could not determine a constructor"):
        load_flow_text("!!python/object/apply:os.system ['true']\n", filename="evil.yaml")


FLOW_TEXTS = st.one_of(
    st.text(max_size=300),
    st.lists(
        st.sampled_from(
            [
                "name: x\n",
                "start: s\n",
                "activities:\n",
                "  s:\n",
                "    kind: start\n",
                "    kind: menu\n",
                "    next: s\n",
                "    on: {out: t}\n",
                "    prompt: {text: '{{ a | }}'}\n",
                "  - [\n",
                "&a *a\n",
                "    choices: {1: x}\n",
                "event_flows: {agent_answered: {start: z, activities: {}}}\n",
            ]
        ),
        max_size=12,
    ).map("".join),
)


@settings(max_examples=300, deadline=None)
@given(text=FLOW_TEXTS)
def test_any_text_gives_a_flow_or_located_problems(text: str) -> None:
    flow, problems = validate_text(text, filename="h.yaml")
    assert (flow is None) == bool(problems)
    for problem in problems:
        assert str(problem).startswith("h.yaml")
