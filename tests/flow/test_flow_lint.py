"""Each lint rule, positive and negative; every defect of the Webex template is reported."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from dipflow.flow.lint import Finding, Severity, lint_flow
from dipflow.flow.model import Flow
from dipflow.flow.webex import import_webex_file

# A small flow that is clean: every rule's negative case starts from it.
CLEAN: dict[str, Any] = {
    "name": "clean",
    "variables": [
        {"name": "CustomerName", "default": ""},
        {"name": "CaseId", "default": ""},
        {"name": "Count", "type": "integer", "default": 0},
    ],
    "start": "Start",
    "activities": {
        "Start": {"kind": "start", "next": "Lookup"},
        "Lookup": {
            "kind": "http_request",
            "connector": "dynamics",
            "path": "contacts",
            "query": {
                "$filter": "{{ NewPhoneContact.ANI | odata_phone_filter }}",
                "$top": "2",
                "$expand": "incident_customer_contacts($select=incidentid;"
                           "$orderby=createdon desc;$top=1)",
            },
            "parse": [{"variable": "CustomerName", "path": "$.value[0].fullname"}],
            "on": {"success": "Known", "error": "Sorry", "timeout": "Sorry"},
        },
        "Known": {"kind": "condition", "expression": "{{ Count == 1 }}",
                  "on": {"true": "Hello", "false": "Sorry", "error": "Sorry"}},
        "Hello": {"kind": "play_message", "prompt": {"text": "Hello {{ CustomerName }}"},
                  "on": {"out": "Menu", "error": "Menu"}},
        "Sorry": {"kind": "play_message", "prompt": {"text": "Welcome"},
                  "on": {"out": "Menu", "error": "Menu"}},
        "Menu": {"kind": "menu", "prompt": {"text": "Press 1"}, "choices": {"1": "agent"},
                 "max_tries": 3,
                 "on": {"1": "Queue", "no_input": "Queue", "invalid": "Queue", "error": "Queue"}},
        "Queue": {"kind": "queue_contact", "queue": "Care", "max_wait_s": 600,
                  "fallback_queue": "Overflow", "on": {"out": "Music", "error": "Bye"}},
        "Music": {"kind": "play_music", "duration_s": 30, "on": {"out": "Position"}},
        "Position": {"kind": "play_message",
                     "prompt": {"text": "You are number {{ Queue.position }}"},
                     "on": {"out": "Music", "error": "Music"}},
        "Bye": {"kind": "disconnect_contact"},
    },
    "event_flows": {
        "agent_answered": {
            "start": "Pop",
            "activities": {
                "Pop": {"kind": "screen_pop", "url": "https://org.crm.dynamics.com/main.aspx",
                        "query": {"appid": "8a18ed00-21e1-ed11-a7c6-000d3a8bcaaa",
                                  "etn": "incident", "id": "{{ CaseId }}"}},
            },
        }
    },
}


def flow_with(**changes: Any) -> Flow:
    """CLEAN with activities replaced/added (None deletes)."""
    data = copy.deepcopy(CLEAN)
    for activity_id, activity in changes.items():
        if activity is None:
            del data["activities"][activity_id]
        else:
            data["activities"][activity_id] = activity
    return Flow.model_validate(data)


def rules(findings: list[Finding]) -> set[tuple[str, str | None]]:
    return {(f.rule, f.activity) for f in findings}


def test_clean_flow_has_no_findings() -> None:
    assert lint_flow(Flow.model_validate(CLEAN)) == []


def lookup(**overrides: Any) -> dict[str, Any]:
    activity = copy.deepcopy(CLEAN["activities"]["Lookup"])
    activity.update(overrides)
    return activity


def test_unwired_http_error_is_an_error() -> None:
    findings = lint_flow(flow_with(Lookup=lookup(on={"success": "Known"})))
    assert ("unwired-failure", "Lookup") in rules(findings)
    assert next(f for f in findings if f.activity == "Lookup").severity is Severity.ERROR


def test_unreachable_activity() -> None:
    orphan = {"kind": "play_message", "prompt": {"text": "nobody hears this"}}
    assert ("unreachable", "Orphan") in rules(lint_flow(flow_with(Orphan=orphan)))


def test_unknown_name() -> None:
    hello = {"kind": "play_message", "prompt": {"text": "Hello {{ CustomerNmae }}"},
             "on": {"out": "Menu", "error": "Menu"}}
    findings = lint_flow(flow_with(Hello=hello))
    assert ("unknown-name", "Hello") in rules(findings)
    assert "CustomerNmae" in next(f.message for f in findings if f.rule == "unknown-name")


def test_read_before_write_of_variable_without_default() -> None:
    data = copy.deepcopy(CLEAN)
    data["variables"].append({"name": "Greeting"})  # no default
    data["activities"]["Sorry"]["prompt"]["text"] = "{{ Greeting }}"
    findings = lint_flow(Flow.model_validate(data))
    assert ("read-before-write", "Sorry") in rules(findings)
    # Written on every path before: no finding.
    data["activities"]["Start"]["next"] = "SetGreeting"
    data["activities"]["SetGreeting"] = {"kind": "set_variable", "variable": "Greeting",
                                         "value": "Hi", "next": "Lookup"}
    assert ("read-before-write", "Sorry") not in rules(lint_flow(Flow.model_validate(data)))


@pytest.mark.parametrize(
    ("filter_template", "flagged"),
    [
        ("telephone1 eq '{{ NewPhoneContact.ANI }}'", True),
        ("telephone1 eq {{ NewPhoneContact.ANI | odata_quote }}", False),
        ("{{ NewPhoneContact.ANI | odata_phone_filter }}", False),
        ("telephone1 eq '{{ NewPhoneContact.ANI | replace({'+': ''}) }}'", True),
    ],
)
def test_caller_data_in_query(filter_template: str, flagged: bool) -> None:
    query = dict(CLEAN["activities"]["Lookup"]["query"], **{"$filter": filter_template})
    findings = lint_flow(flow_with(Lookup=lookup(query=query)))
    assert (("unquoted-caller-data", "Lookup") in rules(findings)) is flagged


def test_caller_data_flows_through_variables() -> None:
    data = copy.deepcopy(CLEAN)
    data["variables"].append({"name": "Digits", "default": ""})
    data["activities"]["Start"]["next"] = "Strip"
    data["activities"]["Strip"] = {"kind": "set_variable", "variable": "Digits",
                                   "value": "{{ NewPhoneContact.ANI | replace({'+': ''}) }}",
                                   "next": "Lookup"}
    data["activities"]["Lookup"]["path"] = "contacts?$filter=contains(telephone1,'{{Digits}}')"
    data["activities"]["Lookup"]["query"] = {}
    found = rules(lint_flow(Flow.model_validate(data)))
    assert ("unquoted-caller-data", "Lookup") in found
    assert ("wildcard-phone-match", "Lookup") in found


def test_unordered_first_record() -> None:
    found = rules(lint_flow(flow_with(Lookup=lookup(path="incidents", query={}))))
    assert ("unfiltered-query", "Lookup") in found
    ordered = lookup(path="incidents", query={"$filter": "_customerid_value eq {{ CaseId }}",
                                               "$orderby": "createdon desc", "$top": "1"})
    assert ("unfiltered-query", "Lookup") not in rules(lint_flow(flow_with(Lookup=ordered)))
    one = lookup(query={"$filter": "statecode eq 0", "$top": "1"})
    assert ("top-without-orderby", "Lookup") in rules(lint_flow(flow_with(Lookup=one)))
    unordered_expand = lookup(query={"$filter": "statecode eq 0", "$top": "2",
                                     "$expand": "incident_customer_contacts($top=1)"})
    assert ("top-without-orderby", "Lookup") in rules(lint_flow(flow_with(Lookup=unordered_expand)))


def test_hard_coded_record_id() -> None:
    data = copy.deepcopy(CLEAN)
    pop = data["event_flows"]["agent_answered"]["activities"]["Pop"]
    pop["query"]["id"] = "b68990a8-e1dc-4350-b266-112c622507f5"
    findings = lint_flow(Flow.model_validate(data))
    assert ("hard-coded-record-id", "Pop") in rules(findings)
    assert next(f for f in findings if f.rule == "hard-coded-record-id").flow == "agent_answered"


@pytest.mark.parametrize(("expression", "flagged"), [
    ('{{ CustomerName == "NA" }}', True),
    ("{{ CustomerName != 'null' }}", True),
    ("CustomerName == ''", True),
    ('{{ CustomerName == "Ada" }}', False),
    ("{{ Count == 1 }}", False),
])
def test_sentinel_comparison(expression: str, flagged: bool) -> None:
    known = {"kind": "condition", "expression": expression,
             "on": {"true": "Hello", "false": "Sorry", "error": "Sorry"}}
    found = rules(lint_flow(flow_with(Known=known)))
    assert (("sentinel-comparison", "Known") in found) is flagged


def test_menu_without_reprompt() -> None:
    menu = copy.deepcopy(CLEAN["activities"]["Menu"])
    menu["max_tries"] = 1
    assert ("menu-no-reprompt", "Menu") in rules(lint_flow(flow_with(Menu=menu)))


def test_music_loop_without_exit() -> None:
    music = {"kind": "play_music", "duration_s": 30, "on": {"out": "Music"}}
    found = rules(lint_flow(flow_with(Music=music, Position=None)))
    assert ("music-no-exit", "Music") in found


def test_template_defects_are_all_reported(template_path: Path) -> None:
    """Each defect of ../shared/webex/README.md, by the rule that finds it."""
    found = rules(lint_flow(import_webex_file(template_path).flow))
    expected = {
        ("unfiltered-query", "GetCaseInfo"),          # 1. any case of anybody, unordered
        ("hard-coded-record-id", "ScreenPop"),        # 2. fixed incident GUID
        # 3. failures not handled: Webex's HTTP Request has one output, and nothing
        #    reads its status (an outage goes on as "no data")
        ("unchecked-http-status", "GetCustomerInfo"),
        ("unchecked-http-status", "GetCaseInfo"),
        ("wildcard-phone-match", "GetCustomerInfo"),  # 4. contains() scan...
        ("unquoted-caller-data", "GetCustomerInfo"),  #    ...with the ANI unescaped
        ("sentinel-comparison", "ConditionCheck"),    # 5. "NA"
        ("menu-no-reprompt", "MainMenu"),             # 6. no re-prompt
        ("music-no-exit", "PlayMusic"),               # 7. music for ever
    }
    assert expected <= found


def test_cli_lint_exit_status(tmp_path: Path, template_path: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from dipflow.cli.main import app

    runner = CliRunner()
    dirty = runner.invoke(app, ["flow", "lint", str(template_path), "--json"])
    assert dirty.exit_code == 1
    assert '"rule": "music-no-exit"' in dirty.output
    clean_file = tmp_path / "clean.yaml"
    clean_file.write_text(yaml.safe_dump(CLEAN), encoding="utf-8")
    clean = runner.invoke(app, ["flow", "lint", str(clean_file)])
    assert clean.exit_code == 0, clean.output
    assert "no findings" in clean.output
    lenient = runner.invoke(app, ["flow", "lint", str(template_path), "--fail-on", "never"])
    assert lenient.exit_code == 0


@pytest.mark.parametrize(
    ("path", "flagged"),
    [
        # The URL is sent as written: a SIP caller ID "x%27 or 1 eq 1 or telephone1 eq %27y"
        # reaches the server as `'x' or 1 eq 1 or telephone1 eq 'y'`; `&` and `#` cut it.
        ("contacts?$filter=telephone1 eq {{ NewPhoneContact.ANI | odata_quote }}", True),
        ("contacts?$filter=telephone1 eq '{{ NewPhoneContact.ANI | urlencode }}'", True),
        ("contacts?$filter=telephone1 eq {{ NewPhoneContact.ANI | odata_quote | urlencode }}",
         False),
        ("contacts?$filter={{ NewPhoneContact.ANI | odata_phone_filter }}", False),
        ("contacts?$filter=telephone1 eq '{{ NewPhoneContact.ANI | e164 }}'", False),
        ("customers/{{ NewPhoneContact.ANI | urlencode }}", False),
    ],
)
def test_caller_data_in_a_query_written_into_the_path(path: str, flagged: bool) -> None:
    findings = lint_flow(flow_with(Lookup=lookup(path=path, query={})))
    assert (("unquoted-caller-data", "Lookup") in rules(findings)) is flagged


def test_odata_quote_through_a_variable_still_needs_url_escaping_in_the_path() -> None:
    data = copy.deepcopy(CLEAN)
    data["variables"].append({"name": "Quoted", "default": ""})
    data["activities"]["Start"]["next"] = "Quote"
    data["activities"]["Quote"] = {"kind": "set_variable", "variable": "Quoted",
                                   "value": "{{ NewPhoneContact.ANI | odata_quote }}",
                                   "next": "Lookup"}
    data["activities"]["Lookup"]["path"] = "contacts?$filter=telephone1 eq {{ Quoted }}"
    data["activities"]["Lookup"]["query"] = {}
    assert ("unquoted-caller-data", "Lookup") in rules(lint_flow(Flow.model_validate(data)))
