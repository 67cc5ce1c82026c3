"""Errors in plain words: the exact text `dipflow flow validate` prints for a beginner's mistakes.

Each case is the mistake as a new author makes it, in a small flow, and the one line the
author reads: where (file:line:col, the column of the mistake itself) and what to write.
"""

from __future__ import annotations

import pytest

from dipflow.flow.loader import validate_text

FLOW = """\
name: mistakes
start: start
variables:
  - name: Language
activities:
  start:
    kind: start
    next: menu
  menu:
    kind: menu
    prompt: {text: "Press 1"}
    choices: {1: one}
    on: {1: bye, no_input: bye, invalid: bye}
  bye:
    kind: disconnect_contact
"""


def problems(text: str) -> list[str]:
    flow, found = validate_text(text, filename="f.yaml")
    assert flow is None, "the mistake must be refused"
    return [str(problem) for problem in found]


def with_condition(expression: str) -> str:
    return FLOW.replace(
        "    next: menu\n",
        f"    next: check\n  check:\n    kind: condition\n    expression: {expression}\n"
        "    on: {true: menu, false: menu}\n",
        1,
    )


def with_prompt(text: str) -> str:
    return FLOW.replace('prompt: {text: "Press 1"}', f"prompt: {{text: {text}}}")


def test_a_line_indented_too_deep_names_the_line_to_fix() -> None:
    text = FLOW.replace("    prompt: {text", "      prompt: {text")
    assert problems(text) == [
        "f.yaml:11:7: check the indentation of line 11: it is indented deeper than line 10"
        " (`kind: menu`), so YAML reads it as the rest of that value; keys of one mapping"
        " start in the same column"
    ]


def test_a_key_between_two_indentation_levels_names_the_columns() -> None:
    text = FLOW.replace("  bye:\n", " bye:\n")
    assert problems(text) == [
        "f.yaml:14:2: check the indentation of line 14: it starts in column 2, where no key"
        " above it starts (the nearest keys start in columns 1 and 3)"
    ]


def test_a_list_item_key_out_of_line() -> None:
    text = FLOW.replace("  - name: Language\n", "  - name: Language\n  type: string\n")
    assert problems(text) == [
        "f.yaml:5:3: check the indentation of line 5: it starts in column 3; the keys of the"
        " list item on line 4 start in column 5"
    ]


def test_a_tab_in_the_indentation() -> None:
    text = FLOW.replace("    kind: disconnect_contact", "\tkind: disconnect_contact")
    assert problems(text) == [
        "f.yaml:15:1: line 15 is indented with a tab: YAML indents with spaces only"
        " (replace the tab with spaces)"
    ]


def test_a_prompt_written_as_a_string() -> None:
    text = FLOW.replace('prompt: {text: "Press 1"}', 'prompt: "Press 1"')
    assert problems(text) == [
        'f.yaml:11:13: [menu] `prompt` is a mapping, not text: write `prompt: {text: "Press 1"}`'
    ]


def test_an_unquoted_template_value() -> None:
    text = FLOW.replace('prompt: {text: "Press 1"}', "prompt:\n      text: {{ Language }} menu")
    assert problems(text) == [
        "f.yaml:12:13: a value that starts with `{{` must be quoted: write"
        ' `text: "{{ Language }} menu"` (unquoted, YAML reads `{` as the start of a mapping)'
    ]


def test_a_colon_inside_an_unquoted_value() -> None:
    text = FLOW.replace('prompt: {text: "Press 1"}', "prompt:\n      text: Note: press 1")
    assert problems(text) == [
        "f.yaml:12:13: line 12: the value of `text` holds `: `, which YAML reads as a new key;"
        ' quote the value: `text: "Note: press 1"`'
    ]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            "\"{{ Language = 'de' }}\"",
            "f.yaml:11:30: [check] bad condition in `expression`: `=` is not a comparison:"
            " write `==`, as in `{{ Language == 'de' }}`",
        ),
        (
            "\"Language = 'de'\"",
            "f.yaml:11:27: [check] bad condition in `expression`: `=` is not a comparison:"
            " write `==`, as in `{{ Language == 'de' }}`",
        ),
        (
            "\"{{ Language contains 'de' }}\"",
            "f.yaml:11:30: [check] bad condition in `expression`: `contains` is Pebble syntax:"
            " write `in`, as in `{{ 'de' in Language }}`",
        ),
        (
            "\"{{ Language equals 'de' }}\"",
            "f.yaml:11:30: [check] bad condition in `expression`: `equals` is Pebble syntax:"
            " write `==`, as in `{{ Language == 'de' }}`",
        ),
        (
            "\"{{ Language === 'de' }}\"",
            "f.yaml:11:30: [check] bad condition in `expression`: `===` is not Jinja:"
            " write `==`, as in `{{ Language == 'de' }}`",
        ),
    ],
    ids=["equals-sign", "bare-equals-sign", "contains", "equals", "triple-equals"],
)
def test_pebble_and_other_habits_in_conditions_get_the_jinja_form(
    expression: str, expected: str
) -> None:
    assert problems(with_condition(expression)) == [expected]


def test_pebble_ternary_gets_the_jinja_form() -> None:
    text = with_prompt("\"{{ Language == 'de' ? 'Hallo' : 'Hello' }}\"")
    assert problems(text) == [
        "f.yaml:11:41: [menu] bad expression in `text`: `a ? b : c` is Pebble syntax: write"
        " `b if a else c`, as in `{{ 'Hallo' if Language == 'de' else 'Hello' }}`"
    ]


def test_an_unknown_filter_suggests_the_closest() -> None:
    assert problems(with_prompt('"{{ Language | uper }}"')) == [
        "f.yaml:11:35: [menu] bad expression in `text`: unknown filter `uper`"
        " (did you mean `upper`?)"
    ]


def test_an_unknown_test_suggests_the_closest() -> None:
    assert problems(with_prompt('"{% if Language is emtpy %}x{% endif %}"')) == [
        "f.yaml:11:39: [menu] bad expression in `text`: unknown test `emtpy`"
        " (did you mean `empty`?)"
    ]


def test_a_mistake_on_the_second_line_of_a_block_prompt() -> None:
    text = FLOW.replace(
        'prompt: {text: "Press 1"}',
        "prompt:\n      text: |\n        Hello.\n        {{ Language | uper }}",
    )
    assert problems(text) == [
        "f.yaml:14:23: [menu] bad expression in `text`: unknown filter `uper`"
        " (did you mean `upper`?)"
    ]


def test_a_missing_bracket_in_a_jsonpath() -> None:
    text = FLOW.replace(
        "    next: menu\n",
        "    next: lookup\n  lookup:\n    kind: http_request\n    url: http://crm.example\n"
        "    parse:\n      - variable: Language\n        path: value[0.language\n"
        "    on: {success: menu, error: menu}\n",
        1,
    )
    assert problems(text) == [
        "f.yaml:14:15: [lookup] invalid JSONPath 'value[0.language': missing `]` after `[0`;"
        " write `value[0].language`"
    ]


@pytest.mark.parametrize(
    ("choices", "line_col"),
    [("{1: one, *: again}", "12:23"), ("\n      1: one\n      *: again", "14:7")],
    ids=["flow-style", "block-style"],
)
def test_an_unquoted_star_menu_key(choices: str, line_col: str) -> None:
    text = FLOW.replace("choices: {1: one}", f"choices: {choices}")
    assert problems(text) == [
        f'f.yaml:{line_col}: the menu key `*` must be quoted: write `"*":` (unquoted, YAML'
        " reads `*` as the start of an alias)"
    ]


def test_an_unquoted_hash_menu_key_that_yaml_reads_as_a_comment_is_found() -> None:
    # Valid YAML: the `#` choice and its wiring silently vanish as comments.
    text = FLOW.replace("choices: {1: one}", "choices:\n      1: one\n      #: again").replace(
        "on: {1: bye, no_input: bye, invalid: bye}",
        "on:\n      1: bye\n      #: menu\n      no_input: bye\n      invalid: bye",
    )
    assert problems(text) == [
        'f.yaml:14:7: the menu key `#` must be quoted: write `"#": again` (unquoted, YAML'
        " reads the line as a comment and the key is lost)",
        'f.yaml:17:7: the menu key `#` must be quoted: write `"#": menu` (unquoted, YAML'
        " reads the line as a comment and the key is lost)",
    ]


def test_an_unquoted_hash_key_in_a_flow_mapping() -> None:
    text = FLOW.replace("choices: {1: one}", "choices: {1: one, #: again}")
    assert problems(text) == [
        'f.yaml:12:23: the menu key `#` must be quoted: write `"#":` (unquoted, YAML reads'
        " `#` and the rest of the line as a comment)"
    ]


def test_hash_colon_inside_text_is_not_a_lost_key() -> None:
    text = FLOW.replace(
        'prompt: {text: "Press 1"}', "prompt:\n      text: |\n        Press\n        #: hash"
    )
    flow, found = validate_text(text.replace('"#"', "x"), filename="f.yaml")
    assert found == [] and flow is not None
    quoted = FLOW.replace("choices: {1: one}", 'choices: {1: one, "#": again}').replace(
        "on: {1: bye,", 'on: {1: bye, "#": bye,'
    )
    assert validate_text(quoted, filename="f.yaml")[1] == []


def test_an_unclosed_quote() -> None:
    text = FLOW.replace('prompt: {text: "Press 1"}', 'prompt:\n      text: "Press 1')
    assert problems(text) == [
        'f.yaml:12:13: the quote " opened here is never closed: end the value with "'
    ]


def test_an_unknown_filter_inside_a_condition_block_is_found_before_a_call() -> None:
    # Jinja defers names inside `{% if %}` to run time; the validator must not.
    assert problems(with_prompt('"{% if Language %}{{ Language | lenght }}{% endif %}"')) == [
        "f.yaml:11:52: [menu] bad expression in `text`: unknown filter `lenght`"
        " (did you mean `length`?)"
    ]
