"""Event flows from Flow Designer: `ContactAniUpdated` is raised here; events dipflow
has no source for, or does not know, are kept with a note and never fail the import."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from dipflow.engine.events import AniUpdated
from dipflow.flow.model import EventName
from dipflow.flow.webex import import_webex_export
from dipflow.flow.webex.exporter import export_webex
from dipflow.testing.simulator import FlowSimulator

EXPORT = Path(__file__).parent / "exports" / "ciscolivelabs__CL_1_start.json"


def _with_events(*names: str) -> dict[str, Any]:
    """The export with an event flow per name: the trigger, then a Set Variable."""
    export = copy.deepcopy(json.loads(EXPORT.read_text()))
    events = export["eventFlows"]["eventsMap"]["GLOBAL_EVENTS"]
    for n, name in enumerate(names):
        trigger, step = f"trigger-{n}", f"step-{n}"
        events["process"]["activities"][trigger] = {
            "id": trigger,
            "name": name,
            "group": "event",
            "properties": {"name": name, "activityName": "event", "eventSpecificationName": name},
        }
        events["process"]["activities"][step] = {
            "id": step,
            "name": f"Note{n}",
            "group": "set-variable",
            "properties": {
                "name": f"Note{n}",
                "activityName": "set-variable",
                "srcVariable": "count",
                "expr": "{{count + 1}}",
            },
        }
        events["process"]["links"].append(
            {
                "id": f"l{n}",
                "sourceActivityId": trigger,
                "targetActivityId": step,
                "conditionExpr": "out",
            }
        )
        events["onEvents"][name] = trigger
    return export  # fmt: skip


def test_contact_ani_updated_is_an_event_flow_that_runs() -> None:
    result = import_webex_export(_with_events("ContactAniUpdated"), filename=EXPORT.name)
    assert EventName.ANI_UPDATED in result.flow.event_flows
    simulator = FlowSimulator(result.flow, queues={"f98926a4-a00d-4c92-86df-e9ba30de0ee1": "Q"})
    simulator.start(ani="+14155550123")
    simulator.send(AniUpdated(ani="+14155559999"))
    state = simulator.state
    assert state is not None
    assert state.outputs["NewPhoneContact"]["ANI"] == "+14155559999"
    assert state.variables["count"] == 1  # the event flow ran
    (entry,) = [e for e in state.trace if e.flow == "ani_updated" and e.kind == "event"]
    assert entry.inputs == {"ani": "+14155559999", "previous": "+14155550123"}


def test_events_without_a_source_here_are_kept_with_a_note() -> None:
    export = _with_events("ContactReservationStarted", "ContactTranscriptReady")
    result = import_webex_export(export, filename=EXPORT.name)
    kept = result.flow.event_flows[EventName.RESERVATION_STARTED]
    assert "queue reservations" in kept.note
    unknown = result.flow.kept_event_flows["ContactTranscriptReady"]
    assert "does not know the Webex event ContactTranscriptReady" in unknown.note
    assert any("ContactTranscriptReady" in note for note in result.notes)
    again = import_webex_export(json.loads(json.dumps(export_webex(result.flow))))
    assert again.document == result.document
