"""`dipflow flow lint` as an author reads it: each finding on one line at its file:line:col,
unknown names with a "did you mean", validation problems exactly as `validate` gives them,
and caller keys treated as caller data (taint)."""

from __future__ import annotations

from dipflow.flow.lint.findings import Severity
from dipflow.flow.lint.located import field_loc, lint_text
from dipflow.flow.loader import validate_text

FLOW = """\
name: lint-me
start: start
variables:
  - name: Account
    default: ""
  - name: ContactName
    default: ""
activities:
  start:
    kind: start
    next: ask
  ask:
    kind: menu
    prompt: {text: "Hello {{ ContactNmae }}. Press 1."}
    choices: {1: one}
    on: {1: lookup, no_input: lookup, invalid: lookup}
  lookup:
    kind: http_request
    connector: dynamics
    path: accounts
    query:
      $filter: "accountnumber eq '{{ ask.digit }}'"
    on: {success: bye, error: bye}
  bye:
    kind: disconnect_contact
"""


def test_an_unknown_name_is_reported_at_its_line_and_column_with_did_you_mean() -> None:
    report = lint_text(FLOW, filename="lint.yaml")
    unknown = [f for f in report.findings if f.rule == "unknown-name"]
    assert [str(f) for f in unknown] == [
        "lint.yaml:14:30: error: [ask] `prompt.text` reads `ContactNmae`, which no variable or"
        " activity defines (did you mean `ContactName`?) (unknown-name); fix: declare it under"
        " `variables:` or fix the spelling"
    ]


def test_keys_the_caller_pressed_are_caller_data_in_a_query() -> None:
    report = lint_text(FLOW, filename="lint.yaml")
    tainted = [f for f in report.findings if f.rule == "unquoted-caller-data"]
    assert [str(f) for f in tainted] == [
        "lint.yaml:22:38: error: [lookup] `query.$filter` puts caller data (`ask`) into the"
        " request unquoted: what a caller sends (caller ID, keys) can change the request"
        " (unquoted-caller-data); fix: pass it through `odata_quote` or `odata_phone_filter`"
    ]


def test_keys_copied_into_a_variable_stay_caller_data() -> None:
    text = (
        FLOW.replace("    next: ask\n", "    next: ask\n", 1)
        .replace(
            "    on: {1: lookup, no_input: lookup, invalid: lookup}",
            "    on: {1: keep, no_input: keep, invalid: keep}\n"
            "  keep:\n    kind: set_variable\n    variable: Account\n"
            '    value: "{{ ask.digit }}"\n    next: lookup',
        )
        .replace("{{ ask.digit }}'\"\n    on:", "{{ Account }}'\"\n    on:")
    )
    report = lint_text(text, filename="lint.yaml")
    assert [(f.rule, f.name) for f in report.findings if f.rule == "unquoted-caller-data"] == [
        ("unquoted-caller-data", "Account")
    ]
    quoted = text.replace("'{{ Account }}'", "{{ Account | odata_quote }}")
    report = lint_text(quoted, filename="lint.yaml")
    assert not [f for f in report.findings if f.rule == "unquoted-caller-data"]


def test_an_invalid_flow_gives_exactly_validates_problems_all_at_once() -> None:
    broken = FLOW.replace("next: ask", "next: aks").replace("kind: disconnect_contact", "kind: end")
    broken = broken.replace('prompt: {text: "Hello', 'prompt: {text: "{{ x | uper }} Hello')
    report = lint_text(broken, filename="lint.yaml")
    assert report.flow is None and report.findings == []
    assert report.problems == validate_text(broken, filename="lint.yaml")[1]
    assert len(report.problems) == 2


def test_a_finding_without_a_field_points_at_the_activity() -> None:
    text = FLOW + "  orphan:\n    kind: end\n"
    report = lint_text(text, filename="lint.yaml", minimum=Severity.WARNING)
    (orphan,) = [f for f in report.findings if f.rule == "unreachable"]
    assert orphan.where() == "lint.yaml:26:3"


def test_field_paths_map_to_yaml_locations() -> None:
    assert field_loc("prompt.text") == ("prompt", "text")
    assert field_loc("query.$filter") == ("query", "$filter")
    assert field_loc("value[0].name") == ("value", 0, "name")


def test_keys_as_a_plain_query_parameter_are_the_value_it_asks_for() -> None:
    # The client encodes a query map; digits, `*` and `#` cannot change the request there.
    text = FLOW.replace(
        "$filter: \"accountnumber eq '{{ ask.digit }}'\"", 'ticket: "{{ ask.digit }}"'
    )
    report = lint_text(text, filename="lint.yaml")
    assert not [f for f in report.findings if f.rule == "unquoted-caller-data"]
