"""GoTo (`hand-off`) and Subflow (`subflow-handoff`) imported from Flow Designer and
exported back. No public export uses them: these put them, with the properties Cisco's
registry gives them, into a real export (CL_1_start, Cisco Live LTRCCT-2004)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from dipflow.flow.model import GoToActivity, SubflowActivity
from dipflow.flow.webex import import_webex_export
from dipflow.flow.webex.exporter import export_webex

EXPORT = Path(__file__).parent / "exports" / "ciscolivelabs__CL_1_start.json"


def _with_activity(props: dict[str, Any], *, links: bool = True) -> dict[str, Any]:
    """The export with its first play-message replaced by `props` (same id; its outgoing
    links kept, or dropped for an activity with no ordinary output)."""
    export = copy.deepcopy(json.loads(EXPORT.read_text()))
    activities = export["process"]["activities"]
    ident = next(
        k for k, a in activities.items() if a["properties"]["activityName"] == "play-message"
    )
    activities[ident]["properties"] = {"name": "Handoff", **props}
    activities[ident]["name"] = "Handoff"
    if not links:
        process = export["process"]
        process["links"] = [x for x in process["links"] if x["sourceActivityId"] != ident]
    return export


def _activity(export: dict[str, Any]) -> Any:
    return import_webex_export(export, filename=EXPORT.name).flow.activities["Handoff"]


def test_a_subflow_is_imported_with_its_inputs_and_outputs() -> None:
    export = _with_activity(
        {
            "activityName": "subflow-handoff",
            "subflowVersion": {"id": "64c1f0a2d3e4", "tag": "Latest"},
            "subflowVersion:name": "VerifyCustomer",
            "subflowInputVariables": [
                {"src": "NewPhoneContact.ANI", "target": "CallerNumber", "type": "STRING"},
                {"src": "{{count}}", "target": "Attempts", "type": "INTEGER"},
            ],
            "subflowOutputVariables": [
                {"outputVariable": "count", "target": "Verified", "type": "STRING"}
            ],
        }
    )
    activity = _activity(export)
    assert isinstance(activity, SubflowActivity)
    assert activity.flow == "VerifyCustomer"
    assert activity.inputs == {
        "CallerNumber": "{{ NewPhoneContact.ANI }}",
        "Attempts": "{{ count }}",
    }
    assert activity.returns == {"count": "Verified"}
    first = import_webex_export(export, filename=EXPORT.name)
    again = import_webex_export(json.loads(json.dumps(export_webex(first.flow))))
    assert again.document == first.document


def test_a_subflow_named_only_by_id_keeps_the_id() -> None:
    export = _with_activity(
        {"activityName": "subflow-handoff", "subflowVersion": {"id": "64c1f0a2", "tag": "Latest"}}
    )
    activity = _activity(export)
    assert isinstance(activity, SubflowActivity) and activity.flow == "64c1f0a2"


def test_goto_is_imported_naming_its_target() -> None:
    export = _with_activity(
        {
            "activityName": "hand-off",
            "handOffFlow": "0f1e2d3c-aaaa-bbbb-cccc-000000000001",
            "handOffFlow:name": "Spanish_EP",
        },
        links=False,
    )
    activity = _activity(export)
    assert isinstance(activity, GoToActivity) and activity.flow == "Spanish_EP"
    first = import_webex_export(export, filename=EXPORT.name)
    again = import_webex_export(json.loads(json.dumps(export_webex(first.flow))))
    assert again.flow.activities["Handoff"] == GoToActivity(
        kind="goto", flow="Spanish_EP", origin=again.flow.activities["Handoff"].origin
    )


def test_start_media_stream_is_imported_naming_its_destination() -> None:
    from dipflow.flow.model import StartMediaStreamActivity

    export = _with_activity(
        {"activityName": "start-media-stream", "mediaDestinationId": "Cisco AI Assistant"}
    )
    first = import_webex_export(export, filename=EXPORT.name)
    activity = first.flow.activities["Handoff"]
    assert isinstance(activity, StartMediaStreamActivity)
    assert activity.destination == "Cisco AI Assistant"
    assert any("media_streams" in note for note in first.notes)
    again = import_webex_export(json.loads(json.dumps(export_webex(first.flow))))
    assert again.document == first.document
