"""The flow layer's one error root: a caller catches `FlowError` and reads `problems`.

The command line prints any flow failure the same way (`file:line:col: message`), and the
runtime tells the flow layer's failures from bugs, by catching this one class.
"""

from __future__ import annotations

import pytest

from dipflow.errors import DipflowError
from dipflow.flow.errors import FlowError
from dipflow.flow.expressions import ExpressionError, render
from dipflow.flow.jsonpath import JsonPathError, compile_path
from dipflow.flow.loader import load_flow_text
from dipflow.flow.webex import WebexImportError, import_webex_export
from dipflow.flow.yamlsource import YamlSyntaxError, parse_yaml


def test_yaml_syntax_error_is_a_flow_error_with_its_position() -> None:
    with pytest.raises(FlowError) as caught:
        parse_yaml("a: [1, 2\nb: 3\n", "x.yaml")
    assert isinstance(caught.value, YamlSyntaxError)
    (problem,) = caught.value.problems
    # The unclosed bracket is where the author must look, not where the parser gave up.
    assert (problem.file, problem.line, problem.column) == ("x.yaml", 1, 4)
    assert str(caught.value) == str(problem)
    assert str(caught.value).startswith("x.yaml:1:4: the `[` opened here is never closed")


def test_expression_error_is_a_flow_error_and_still_a_value_error() -> None:
    with pytest.raises(FlowError) as caught:
        render("Hello {{ name | shout }}", {"name": "Ada"})
    assert isinstance(caught.value, ExpressionError)
    assert isinstance(caught.value, ValueError)
    assert "No filter named 'shout'" in str(caught.value)
    assert [p.message for p in caught.value.problems] == [caught.value.message]


def test_multi_line_template_error_keeps_its_line() -> None:
    with pytest.raises(ExpressionError) as caught:
        render("first\n{{ 1 + }}", {})
    assert caught.value.line == 2
    assert str(caught.value).startswith("line 2: ")
    assert caught.value.problems[0].line == 2


def test_jsonpath_error_is_a_flow_error_and_still_a_value_error() -> None:
    with pytest.raises(FlowError) as caught:
        compile_path("$.value[")
    assert isinstance(caught.value, JsonPathError)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith("invalid JSONPath '$.value[': ")
    assert caught.value.path == "$.value["


def test_webex_import_error_is_a_flow_error_whose_problems_print_like_the_loaders() -> None:
    with pytest.raises(FlowError) as caught:
        import_webex_export([], filename="export.json")
    assert isinstance(caught.value, WebexImportError)
    assert [str(p) for p in caught.value.problems] == ["export.json: not a JSON object"]


def test_every_flow_error_is_a_dipflow_error() -> None:
    with pytest.raises(DipflowError):
        load_flow_text("name: x\n", filename="x.yaml")
