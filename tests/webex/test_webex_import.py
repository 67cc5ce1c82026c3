"""The Webex importer: structure of the imported template, and malformed exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from dipflow.flow.model import (
    EventName,
    Flow,
    HttpRequestActivity,
    MenuActivity,
    PlayMusicActivity,
    QueueContactActivity,
    ScreenPopActivity,
    UnsupportedActivity,
)
from dipflow.flow.webex import WebexImportError, import_webex_export, import_webex_file
from dipflow.flow.webex.activities import ImportOptions


def test_template_variables_keep_their_webex_flags(template_path: Path) -> None:
    flow = import_webex_file(template_path).flow
    by_name = {v.name: v for v in flow.variables}
    assert set(by_name) == {"ContactName", "ANI", "CustomerID", "CaseTitle", "CaseNumber",
                            "CustomerType"}
    assert by_name["ContactName"].agent_visible and by_name["ContactName"].default == "NA"
    assert not by_name["ANI"].agent_visible
    assert by_name["CustomerType"].default == "New"
    assert by_name["CaseNumber"].desktop_label == "CaseNumber"


def test_template_main_flow_is_wired_as_in_flow_designer(template_path: Path) -> None:
    flow = import_webex_file(template_path).flow
    acts = flow.activities
    assert flow.start == "NewPhoneContact"
    assert acts["NewPhoneContact"].wiring() == {"out": "StripANI"}
    assert acts["StripANI"].wiring() == {"out": "Greeting"}
    assert acts["GetCustomerInfo"].wiring() == {"success": "ConditionCheck"}
    assert acts["ConditionCheck"].wiring() == {"true": "PlayNoCaseMessage",
                                               "false": "SetVariable_30q"}
    assert acts["MainMenu"].wiring() == {
        "1": "QueueContact", "2": "DisconnectContact", "no_input": "QueueContact",
        "invalid": "QueueContact", "error": "QueueContact",
    }
    assert acts["PlayMusic"].wiring() == {"out": "PlayMusic"}  # loops on itself, as in Webex
    assert acts["StripANI"].origin == "webex:6556e681-babf-4f66-99c7-7d41ae3e01a3"


def test_template_activity_properties_carry_over(template_path: Path) -> None:
    acts = import_webex_file(template_path).flow.activities
    customer = acts["GetCustomerInfo"]
    assert isinstance(customer, HttpRequestActivity)
    assert customer.connector == "HubSpotCRM"
    assert customer.path == (
        "contacts?$select=fullname,telephone1,contactid&$filter=contains(telephone1,'{{ANI}}')"
    )
    assert (customer.timeout_ms, customer.retries) == (2000, 1)
    assert [(o.variable, o.path) for o in customer.parse] == [
        ("CustomerID", "value[0].contactid"), ("ContactName", "value[0].fullname"),
    ]
    case = acts["GetCaseInfo"]
    assert isinstance(case, HttpRequestActivity) and case.timeout_ms == 2000  # was a string
    menu = acts["MainMenu"]
    assert isinstance(menu, MenuActivity)
    assert menu.choices == {"1": "agent", "2": "disconnect"}
    assert (menu.max_tries, menu.entry_timeout_s, menu.interruptible) == (1, 3.0, True)
    assert menu.prompt.language == "en-US"
    queue = acts["QueueContact"]
    assert isinstance(queue, QueueContactActivity) and queue.queue == "Q_arubhatt"
    music = acts["PlayMusic"]
    assert isinstance(music, PlayMusicActivity)
    assert (music.audio, music.duration_s) == ("hold", 30.0)


def test_template_event_flows(template_path: Path) -> None:
    result = import_webex_file(template_path)
    flow = result.flow
    assert set(flow.event_flows) == {
        EventName.AGENT_ANSWERED, EventName.AGENT_OFFERED, EventName.AGENT_DISCONNECTED,
        EventName.CONTACT_ENDED, EventName.GLOBAL_ERROR,
        # Outbound-campaign events: kept as imported, with a note, never raised here.
        EventName.PREDIAL, EventName.OUTBOUND_CAMPAIGN_RESULT,
    }
    assert "never runs here" in flow.event_flows[EventName.PREDIAL].note
    answered = flow.event_flows[EventName.AGENT_ANSWERED]
    assert answered.start == "Condition_obo"
    existing = answered.activities["ScreenPop"]
    assert isinstance(existing, ScreenPopActivity)
    assert existing.query["id"] == "b68990a8-e1dc-4350-b266-112c622507f5"  # the defect, kept
    assert existing.label == "Customer Ticket details" and existing.target == "new_tab"
    assert any("ContactPredial" in note for note in result.notes)


def test_maps_connectors_and_queues(template_path: Path) -> None:
    options = ImportOptions(connector_map={"HubSpotCRM": "dynamics"},
                            queue_map={"Q_arubhatt": "CustomerCare"})
    acts = import_webex_file(template_path, options=options).flow.activities
    assert isinstance(acts["GetCaseInfo"], HttpRequestActivity)
    assert acts["GetCaseInfo"].connector == "dynamics"
    assert isinstance(acts["QueueContact"], QueueContactActivity)
    assert acts["QueueContact"].queue == "CustomerCare"


def test_yaml_output_round_trips_to_the_same_flow(template_path: Path) -> None:
    result = import_webex_file(template_path)
    text = yaml.safe_dump(result.document, sort_keys=False, allow_unicode=True)
    assert Flow.model_validate(yaml.safe_load(text)) == result.flow


def test_diagram_objects_are_ignored(template_export: dict[str, Any]) -> None:
    plain = import_webex_export(template_export).flow
    for activity in template_export["process"]["activities"].values():
        activity["diagram"] = {"x": 1, "y": 2, "ports": [{"id": "p"}]}
    template_export["diagram"] = {"zoom": 1.5}
    assert import_webex_export(template_export).flow == plain


def _menu_id(export: dict[str, Any]) -> str:
    return next(k for k, a in export["process"]["activities"].items() if a["name"] == "MainMenu")


def test_unknown_activity_fails_naming_it(template_export: dict[str, Any]) -> None:
    menu = template_export["process"]["activities"][_menu_id(template_export)]
    menu["properties"]["activityName"] = "some-future-activity"
    with pytest.raises(WebexImportError) as info:
        import_webex_export(template_export, filename="x.json")
    message = str(info.value)
    assert "MainMenu" in message and _menu_id(template_export) in message
    assert "'some-future-activity' is not supported" in message


def test_allow_partial_makes_unsupported_activities(template_export: dict[str, Any]) -> None:
    menu = template_export["process"]["activities"][_menu_id(template_export)]
    menu["properties"]["activityName"] = "some-future-activity"
    result = import_webex_export(template_export, allow_partial=True)
    activity = result.flow.activities["MainMenu"]
    assert isinstance(activity, UnsupportedActivity)
    assert activity.original_kind == "some-future-activity"
    # The stub keeps every output of the menu it replaces, digit branches included...
    assert activity.wiring() == {
        "1": "QueueContact", "2": "DisconnectContact",
        "no_input": "QueueContact", "invalid": "QueueContact", "error": "QueueContact",
    }
    # ...and always fails: it takes its `error` output.
    assert activity.taken_output() == "error"
    assert [p.activity_name for p in result.unsupported] == ["MainMenu"]


def test_unsupported_behavioural_property_is_reported(template_export: dict[str, Any]) -> None:
    queue = next(a for a in template_export["process"]["activities"].values()
                 if a["name"] == "QueueContact")
    queue["properties"]["skills"] = [{"name": "German", "level": 5}]
    with pytest.raises(WebexImportError, match=r"QueueContact.*skills"):
        import_webex_export(template_export)


def test_link_to_nowhere(template_export: dict[str, Any]) -> None:
    template_export["process"]["links"][0]["targetActivityId"] = "no-such-id"
    with pytest.raises(WebexImportError, match="'no-such-id', which is no activity"):
        import_webex_export(template_export)


def test_activity_without_id(template_export: dict[str, Any]) -> None:
    key = _menu_id(template_export)
    del template_export["process"]["activities"][key]["id"]
    with pytest.raises(WebexImportError, match=f"activity '{key}' has no `id`"):
        import_webex_export(template_export)


def test_truncated_json_names_line_and_column(tmp_path: Path, template_path: Path) -> None:
    text = template_path.read_text(encoding="utf-8")
    broken = tmp_path / "truncated.json"
    broken.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(WebexImportError) as info:
        import_webex_file(broken)
    problem = info.value.problems[0]
    assert problem.line is not None and problem.line > 100
    assert str(problem).startswith(f"{broken}:{problem.line}:")
    assert "not valid JSON" in str(problem)


@pytest.mark.parametrize("payload", [[], "flow", {"name": "x"}, {"process": []},
                                     {"process": {"activities": "nope"}}])
def test_not_an_export(payload: Any) -> None:
    with pytest.raises(WebexImportError) as info:
        import_webex_export(payload, filename="odd.json")
    assert all(p.file == "odd.json" for p in info.value.problems)


def test_no_start_activity(template_export: dict[str, Any]) -> None:
    acts = template_export["process"]["activities"]
    start = next(k for k, a in acts.items() if a["name"] == "NewPhoneContact")
    template_export["process"]["links"] = [
        link for link in template_export["process"]["links"]
        if start not in (link["sourceActivityId"], link["targetActivityId"])
    ]
    del acts[start]
    expected = r"one NewPhoneContact \(or NewContact\) start activity, found 0"
    with pytest.raises(WebexImportError, match=expected):
        import_webex_export(template_export)


def test_cli_import_writes_yaml(tmp_path: Path, template_path: Path) -> None:
    from typer.testing import CliRunner

    from dipflow.cli.main import app

    out = tmp_path / "flow.yaml"
    result = CliRunner().invoke(app, ["flow", "import", "webex", str(template_path), "-o", str(out),
                                      "--connector", "HubSpotCRM=dynamics"])
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert document["activities"]["GetCustomerInfo"]["connector"] == "dynamics"


def test_cli_import_reports_problems_without_traceback(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dipflow.cli.main import app

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"process": {"activities": {"a": {"name": "x"}}}}), encoding="utf-8")
    result = CliRunner().invoke(app, ["flow", "import", "webex", str(bad)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "has no `id`" in result.output


@pytest.mark.parametrize(("webex", "native"), [("P1", 10), (1, 10), ("P10", 1), ("5", 6)])
def test_priority_is_inverted(template_export: dict[str, Any], webex: Any, native: int) -> None:
    queue = next(a for a in template_export["process"]["activities"].values()
                 if a["name"] == "QueueContact")
    queue["properties"]["priority"] = webex
    activity = import_webex_export(template_export).flow.activities["QueueContact"]
    assert isinstance(activity, QueueContactActivity)
    assert activity.priority == native


def test_bad_priority_is_located(template_export: dict[str, Any]) -> None:
    queue = next(a for a in template_export["process"]["activities"].values()
                 if a["name"] == "QueueContact")
    queue["properties"]["priority"] = "urgent"
    with pytest.raises(WebexImportError, match=r"QueueContact.*priority 'urgent' is not P1..P10"):
        import_webex_export(template_export)
