"""What the importer and the expressions take from real Flow Designer exports: the newer
start activity, neutral TTS settings, blank output rows, Jayway JSONPath, Pebble's
`.length`, `now()` and `epoch`, any-case field names, hold music without a duration,
queues by id, JSON bodies, and stubs that keep every output."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dipflow.flow import expressions, jsonpath
from dipflow.flow.model import (
    HttpRequestActivity,
    PlayMessageActivity,
    PlayMusicActivity,
    QueueContactActivity,
    UnsupportedActivity,
)
from dipflow.flow.webex import WebexImportError, import_webex_export
from dipflow.flow.webex.activities import ImportOptions
from dipflow.testing import run_flow

EXPORTS = Path(__file__).parent / "exports"


def _export(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXPORTS / name).read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def _activity(export: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        a for a in export["process"]["activities"].values() if a["name"] == name
    )
    return found


def test_newer_start_activity_new_contact() -> None:
    export = _export("ciscolivelabs__CL_1_start.json")
    start = _activity(export, "NewPhoneContact")
    start["name"] = start["properties"]["name"] = "NewContact"
    start["properties"]["activityName"] = "NewContact"  # event stays NewPhoneContact
    flow = import_webex_export(export).flow
    assert flow.start == "NewContact"
    result = run_flow(flow, max_time=5)
    assert result.variables["NewPhoneContact.ANI"] == "+14155550123"


@pytest.mark.parametrize(
    ("rate", "gain", "expected"),
    [
        (None, None, {}),
        ("1", "0", {}),
        ("1.0", "0.0", {}),
        ("1.25", "-3", {"rate": 1.25, "gain_db": -3.0}),
    ],
)
def test_tts_settings_neutral_values_are_accepted_others_applied(
    rate: str | None, gain: str | None, expected: dict[str, float]
) -> None:
    export = _export("webexsamples-api__CJDS02_Voice.json")
    hello = _activity(export, "Play_Hello")
    hello["properties"]["speakingRate"], hello["properties"]["volumeGainDb"] = rate, gain
    activity = import_webex_export(export).flow.activities["Play_Hello"]
    assert isinstance(activity, PlayMessageActivity)
    settings = {k: v for k, v in activity.prompt.model_dump().items() if k in ("rate", "gain_db")}
    assert {k: v for k, v in settings.items() if v is not None} == expected


def test_blank_output_rows_are_dropped() -> None:
    export = _export("webexsamples-api__VoiceFlow_InstantConnect.json")
    http = _activity(export, "HTTPRequest_u4f")
    http["properties"]["outputVariableArray"].append({"outputVariable": "", "jsonPathExp": ""})
    activity = import_webex_export(export).flow.activities["HTTPRequest_u4f"]
    assert isinstance(activity, HttpRequestActivity)
    assert [o.variable for o in activity.parse] == ["guestKey", "hostKey"]


def test_json_body_text_becomes_structured_so_values_are_encoded() -> None:
    export = _export("webexsamples-api__bmclella_Voice_JDS_1.json")
    activity = import_webex_export(export).flow.activities["GetCustomerRecord"]
    assert isinstance(activity, HttpRequestActivity)
    assert activity.body == {"uniqueKey": "{{NewPhoneContact.ANI|slice(1)}}"}
    result = run_flow(import_webex_export(export).flow, ani='+1415"}, "x": "y', max_time=5)
    (request,) = result.requests[:1]
    assert request.body == {"uniqueKey": '1415"}, "x": "y'}  # a value, not JSON syntax


@pytest.mark.parametrize(("duration", "expected"), [(-1, None), (None, None), ("30", 30.0)])
def test_play_music_duration(duration: Any, expected: float | None) -> None:
    export = _export("webexsamples-api__GiftCardVoiceFlow.json")
    _activity(export, "PlayMusic_5ji")["properties"]["duration"] = duration
    music = import_webex_export(export).flow.activities["PlayMusic_5ji"]
    assert isinstance(music, PlayMusicActivity) and music.duration_s == expected


def test_queue_ids_are_kept_and_mapped() -> None:
    export = _export("webexsamples-api__GiftCardVoiceFlow.json")
    queue_id = "3db85808-a8cd-44be-bf63-8f5e6be6a557"
    unmapped = import_webex_export(export).flow
    mapped = import_webex_export(export, options=ImportOptions(queue_map={queue_id: "Cards"}))
    for flow in (unmapped, mapped.flow):
        activity = flow.activities["QueueContact_yuc"]
        assert isinstance(activity, QueueContactActivity) and activity.queue == queue_id
    assert unmapped.queues == {queue_id: None}
    assert mapped.flow.queues == {queue_id: "Cards"}
    assert run_flow(mapped.flow, max_time=5).queued == ["Cards"]
    # Mapped by the deployment instead (the configuration's `queues:`):
    assert run_flow(unmapped, queues={queue_id: "Gifts"}, max_time=5).queued == ["Gifts"]


def test_a_stub_keeps_the_outputs_of_the_activity_it_replaces() -> None:
    export = _export("ciscolivelabs__CL_1_start.json")
    _activity(export, "opt_out")["properties"]["activityName"] = "some-future-menu"
    with pytest.raises(WebexImportError, match="'some-future-menu' is not supported"):
        import_webex_export(export)
    flow = import_webex_export(export, allow_partial=True).flow
    stub = flow.activities["opt_out"]
    assert isinstance(stub, UnsupportedActivity)
    assert stub.wiring() == {"1": "Callback_noh", "no_input": "PlayMusic_b9x"}
    assert stub.taken_output() == "1"  # no `error` link: its first output


def test_events_dipflow_never_raises_are_kept_with_a_note() -> None:
    from dipflow.flow.model import EventName

    export = _export("webexsamples-api__VoiceFlow_InstantConnect.json")
    result = import_webex_export(export)
    predial = result.flow.event_flows[EventName.PREDIAL]
    assert "never runs here" in predial.note
    assert any("ContactPredial" in note for note in result.notes)


# -- expressions ----------------------------------------------------------------------------

CONTEXT = {
    "NewPhoneContact": {"ANI": "+14155550123", "InteractionId": "abc"},
    "ticket": "12345",
    "items": [1, 2, 3],
    expressions.CLOCK: 1_738_876_452.712,
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ NewPhoneContact.ani }}", "+14155550123"),  # Webex accepts any case
        ("{{ NewPhoneContact.interactionId }}", "abc"),
        ("{{ ticket.length == 5 }}", "true"),  # Pebble `.length` on text
        ("{{ items.length }}", "3"),
        (
            "{{ NewPhoneContact.ANI | slice(NewPhoneContact.ANI.length - 10, "
            "NewPhoneContact.ANI.length) }}",
            "4155550123",
        ),
        ("{{ now() }}", "2025-02-06T21:14:12.712Z[UTC]"),  # as Webex prints ZonedDateTime
        ("{{ now() | epoch }}", "1738876452"),
        ("{{ now() | epoch(inMillis=true) }}", "1738876452712"),
        ('{{ "December 10, 2023 00:00" | epoch(format="MMMM d, yyyy HH:mm") }}', "1702166400"),
        ('{{ now() | epoch(inMillis=true) | date("EEEE") }}', "Thursday"),
        ('{{ now() | date("HH:mm", timeZone="America/New_York") }}', "16:14"),
    ],
)
def test_pebble_as_webex_evaluates_it(template: str, expected: str) -> None:
    assert expressions.render(template, CONTEXT) == expected


def test_now_needs_the_calls_clock() -> None:
    with pytest.raises(expressions.ExpressionError, match="call clock"):
        expressions.render("{{ now() }}", {})


def test_now_in_a_call_is_the_calls_time_and_replays_identically() -> None:
    from dipflow.flow.model import Flow

    flow = Flow.model_validate(
        {
            "name": "t",
            "start": "S",
            "activities": {
                "S": {"kind": "start", "next": "Say"},
                "Say": {"kind": "play_message", "prompt": {"text": "{{ now() | epoch }}"}},
            },
        }
    )
    first, second = run_flow(flow), run_flow(flow)
    assert first.prompts == second.prompts == ["1767225600"]  # the simulator's start


@pytest.mark.parametrize(
    ("path", "expected"),
    [("$.guest.[0].short", "g"), ("guest.[0].short", "g"), ("$..short", "g")],
)
def test_jayway_jsonpath(path: str, expected: str) -> None:
    assert jsonpath.extract(path, {"guest": [{"short": "g"}]}) == expected


def _replace(export: dict[str, Any], name: str, properties: dict[str, Any]) -> None:
    activity = _activity(export, name)
    activity["properties"] = {"name": name, **properties}


def test_blind_transfer_set_caller_id_and_feedback_import() -> None:
    from dipflow.flow.model import BlindTransferActivity, FeedbackActivity, SetCallerIdActivity

    export = _export("ciscolivelabs__CL_1_start.json")
    _replace(export, "PlayMessage_oc2", {"activityName": "SetCallerID", "callerId": "+18005550100"})
    _replace(
        export, "Callback_noh", {"activityName": "Feedback-V2", "surveyMethod": "inlineSurvey"}
    )
    _replace(export, "PlayMessage_s4p", {"activityName": "blind-transfer", "transfertodn": "{{x}}"})
    links = export["process"]["links"]
    source = _activity(export, "PlayMessage_s4p")["id"]
    for link in links:
        if link["sourceActivityId"] == source:
            link["conditionExpr"] = "failure"  # a blind transfer's only port
    flow = import_webex_export(export).flow
    caller_id = flow.activities["PlayMessage_oc2"]
    assert isinstance(caller_id, SetCallerIdActivity) and caller_id.caller_id == "+18005550100"
    survey = flow.activities["Callback_noh"]
    assert isinstance(survey, FeedbackActivity) and survey.survey == "inlineSurvey"
    transfer = flow.activities["PlayMessage_s4p"]
    assert isinstance(transfer, BlindTransferActivity) and transfer.destination == "{{x}}"
    assert transfer.wiring() == {"error": "DisconnectContact_23s"}


def test_a_link_from_an_output_the_kind_does_not_have_is_reported() -> None:
    export = _export("ciscolivelabs__CL_1_start.json")
    source = _activity(export, "PlayMessage_oc2")["id"]
    for link in export["process"]["links"]:
        if link["sourceActivityId"] == source:
            link["conditionExpr"] = "ESCALATE"
    with pytest.raises(WebexImportError, match="a link leaves output 'ESCALATE'"):
        import_webex_export(export)


def test_lint_of_an_export_reports_stubs_as_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dipflow.cli.main import app

    export = _export("ciscolivelabs__CL_1_start.json")
    _activity(export, "opt_out")["properties"]["activityName"] = "some-future-menu"
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    queue = "--queue=f98926a4-a00d-4c92-86df-e9ba30de0ee1=Sales"
    result = CliRunner().invoke(
        app, ["flow", "lint", str(path), "--json", "--fail-on", "error", queue]
    )
    assert result.exit_code == 1
    findings = json.loads(result.output)
    errors = [(f["rule"], f["activity"]) for f in findings if f["severity"] == "error"]
    assert errors == [("unsupported-activity", "opt_out")]
