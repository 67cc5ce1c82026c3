"""collect_digits, case and parse: each output, as a caller or a document takes it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dipflow.flow.model import Flow
from dipflow.testing import hang_up, press, run_flow

MakeFlow = Callable[..., Flow]

SAY = {"kind": "play_message", "prompt": {"text": "ok {{ Entry.DigitsEntered }}"}}


def _collect(make_flow: MakeFlow, **fields: Any) -> Any:
    collect = {
        "kind": "collect_digits",
        "prompt": {"text": "Enter your account number, then hash."},
        "min_digits": 4,
        "max_digits": 6,
        "on": {"out": "Good", "no_input": "Nothing", "invalid": "Bad"},
        **fields,
    }
    return make_flow(
        {
            "Entry": collect,
            "Good": {**SAY, "next": "Bye"},
            "Nothing": {"kind": "play_message", "prompt": {"text": "nothing"}, "next": "Bye"},
            "Bad": {"kind": "play_message", "prompt": {"text": "bad"}, "next": "Bye"},
            "Bye": {"kind": "disconnect_contact"},
        }
    )


@pytest.mark.parametrize(
    ("keys", "taken", "entered"),
    [
        ("1234#", "Good", "1234"),  # the terminator ends it, and is not part of it
        ("123456", "Good", "123456"),  # max_digits ends it at once
        ("12345", "Good", "12345"),  # the inter-digit timeout ends it
        ("12#", "Bad", "12"),  # fewer than min_digits
        ("#", "Bad", ""),
    ],
)
def test_collect_digits_outputs(make_flow: MakeFlow, keys: str, taken: str, entered: str) -> None:
    result = run_flow(_collect(make_flow), caller=[press(keys, when="Entry", after=4)])
    assert taken in result.path
    assert result.variables["Entry.DigitsEntered"] == entered
    if taken == "Good":
        assert result.prompts[-1] == f"ok {entered}"


def test_collect_digits_no_input_after_the_entry_timeout(make_flow: MakeFlow) -> None:
    result = run_flow(_collect(make_flow, entry_timeout_s=7))
    assert "Nothing" in result.path
    (entry,) = [e for e in result.trace if e.activity == "Entry"]
    assert entry.ended_at is not None and entry.output_taken == "no_input"
    assert entry.ended_at - entry.started_at > 7  # the prompt, then 7 s of nothing


def test_collect_digits_keys_typed_during_a_fixed_prompt_are_kept(make_flow: MakeFlow) -> None:
    flow = _collect(make_flow, interruptible=False, terminator=None, max_digits=4)
    result = run_flow(flow, caller=[press("98", when="Entry", after=0.5), press("76", after=5)])
    assert result.variables["Entry.DigitsEntered"] == "9876"
    assert "Good" in result.path


def test_collect_digits_barge_in_stops_the_prompt(make_flow: MakeFlow) -> None:
    result = run_flow(_collect(make_flow), caller=[press("4321#", when="Entry", after=0.5)])
    assert result.prompts[-1] == "ok 4321"
    assert result.elapsed_s < 5  # did not wait for the whole prompt


def test_a_hang_up_while_collecting_ends_the_call(make_flow: MakeFlow) -> None:
    result = run_flow(_collect(make_flow), caller=[press("12", when="Entry"), hang_up(after=2)])
    (entry,) = [e for e in result.trace if e.activity == "Entry"]
    assert entry.outputs == {"stopped": "caller_hung_up"}
    assert not {"Good", "Bad", "Nothing"} & set(result.path)
    assert result.finished


def _case(make_flow: MakeFlow, expression: str, cases: dict[str, str]) -> Any:
    branches = {name: {"kind": "end"} for name in ("A", "B", "Other")}
    return make_flow(
        {
            "Decide": {
                "kind": "case",
                "expression": expression,
                "cases": cases,
                "on": {"0": "A", "1": "B", "default": "Other"},
            },
            **branches,
        },
        variables=[{"name": "Calls", "type": "integer", "default": 2}],
    )


@pytest.mark.parametrize(
    ("expression", "taken"),
    [("{{ Calls }}", "B"), ("{{ Calls + 5 }}", "Other"), ("true", "A")],
)
def test_case_takes_the_first_equal_branch_else_default(
    make_flow: MakeFlow, expression: str, taken: str
) -> None:
    flow = _case(make_flow, expression, {"0": "{{ Calls is odd }}", "1": "2"})
    if expression == "true":
        flow = _case(make_flow, expression, {"0": "{{ Calls is even }}", "1": "true"})
    result = run_flow(flow)
    assert result.path[-1] == taken


def _parse(make_flow: MakeFlow, document: str, content_type: str, paths: dict[str, str]) -> Any:
    return make_flow(
        {
            "Read": {
                "kind": "parse",
                "input": "Document",
                "content_type": content_type,
                "parse": [{"variable": v, "path": p} for v, p in paths.items()],
                "on": {"out": "Done", "error": "Failed"},
            },
            "Done": {"kind": "end"},
            "Failed": {"kind": "end"},
        },
        variables=[
            {"name": "Document", "default": document},
            {"name": "Name"},
            {"name": "Balance", "type": "decimal"},
        ],
    )


def test_parse_json_text_into_typed_variables(make_flow: MakeFlow) -> None:
    document = '{"customer": {"name": "Ada", "accounts": [{"balance": "12.5"}]}}'
    flow = _parse(
        make_flow,
        document,
        "json",
        {"Name": "$.customer.name", "Balance": "customer.accounts.[0].balance"},
    )
    result = run_flow(flow)
    assert result.path[-1] == "Done"
    assert result.variables["Name"] == "Ada"
    assert result.variables["Balance"] == 12.5


def test_parse_xml_with_xpath(make_flow: MakeFlow) -> None:
    document = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soap:Body><account id="7"><name>Grace</name><balance>3.25</balance></account>'
        "</soap:Body></soap:Envelope>"
    )
    flow = _parse(
        make_flow,
        document,
        "xml",
        {"Name": "/soap:Envelope/soap:Body/account/name", "Balance": "//balance/text()"},
    )
    result = run_flow(flow)
    assert (result.variables["Name"], result.variables["Balance"]) == ("Grace", 3.25)


@pytest.mark.parametrize(
    ("document", "content_type"),
    [("{not json", "json"), ("<a><b></a>", "xml"), ('<!DOCTYPE x [<!ENTITY e "e">]><x/>', "xml")],
)
def test_parse_of_a_broken_document_takes_error(
    make_flow: MakeFlow, document: str, content_type: str
) -> None:
    result = run_flow(_parse(make_flow, document, content_type, {"Name": "$.name"}))
    assert result.path[-1] == "Failed"
    (entry,) = [e for e in result.trace if e.activity == "Read"]
    assert entry.output_taken == "error" and entry.error


def test_parse_of_a_path_that_finds_nothing_gives_the_empty_value(make_flow: MakeFlow) -> None:
    result = run_flow(_parse(make_flow, '{"x": 1}', "json", {"Name": "$.name"}))
    assert result.path[-1] == "Done" and result.variables["Name"] == ""
