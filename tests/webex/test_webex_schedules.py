"""Business Hours from Flow Designer: the export has only a Control Hub schedule id. The
import keeps it (never stops), lint reports it until mapped, and a mapped schedule
decides the call by its time zone, holidays and overrides."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dipflow.engine import Engine
from dipflow.engine.events import CallStarted
from dipflow.flow.lint import Severity, lint_flow
from dipflow.flow.model import BusinessHoursActivity, Flow, Schedule
from dipflow.flow.webex import import_webex_export
from dipflow.flow.webex.exporter import export_webex

EXPORT = Path(__file__).parent / "exports" / "ciscolivelabs__CL_1_start.json"
SCHEDULE_ID = "a4f1c2d3-0000-4bbb-9ccc-123456789abc"
SCHEDULE = Schedule.model_validate(
    {
        "timezone": "America/New_York",
        "working_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00",
                           "end": "17:00"}],
        "holidays": [{"name": "Independence Day", "start": "2024-07-04"}],
    }
)  # fmt: skip


def _export() -> dict[str, Any]:
    export = copy.deepcopy(json.loads(EXPORT.read_text()))
    for activity in export["process"]["activities"].values():
        if activity["name"] == "PlayMessage_oc2":  # the welcome: now a business-hours check
            activity["properties"] = {
                "name": "PlayMessage_oc2",
                "activityName": "business-hours",
                "businessHoursId": SCHEDULE_ID,
                "businessHoursId:name": "US_Office_Hours",
            }
    return export


def _imported() -> Flow:
    return import_webex_export(_export(), filename=EXPORT.name).flow


def test_the_import_keeps_the_schedule_id_and_says_where_it_lives() -> None:
    result = import_webex_export(_export(), filename=EXPORT.name)
    activity = result.flow.activities["PlayMessage_oc2"]
    assert isinstance(activity, BusinessHoursActivity)
    assert activity.schedule_id == SCHEDULE_ID and activity.schedule is None
    assert result.flow.schedules == {SCHEDULE_ID: None}
    assert any("Control Hub" in note for note in result.notes)
    again = import_webex_export(json.loads(json.dumps(export_webex(result.flow))))
    assert again.document == result.document


def test_lint_reports_the_unmapped_schedule_until_the_flow_maps_it() -> None:
    flow = _imported()
    findings = [f for f in lint_flow(flow) if f.rule == "unmapped-schedule"]
    assert [f.severity for f in findings] == [Severity.ERROR]
    assert SCHEDULE_ID in findings[0].message
    mapped = flow.model_copy(update={"schedules": {SCHEDULE_ID: SCHEDULE}})
    assert not [f for f in lint_flow(mapped) if f.rule == "unmapped-schedule"]


def _branch(flow: Flow, when: datetime, schedules: dict[str, Schedule] | None = None) -> str:
    engine = Engine(flow, schedules=schedules, queues={"f98926a4-a00d-4c92-86df-e9ba30de0ee1": "Q"})
    event = CallStarted(
        call_id="c1", ani="+14155550123", dnis="+18005550100", started_at=when.timestamp()
    )
    state, _ = engine.start(event, 0.0)
    entry = next(e for e in state.trace if e.activity == "PlayMessage_oc2")
    return f"{entry.output_taken} {entry.error or ''}".strip()


def test_a_mapped_schedule_decides_by_its_time_zone_and_holidays() -> None:
    flow = _imported()
    schedules = {SCHEDULE_ID: SCHEDULE}
    # 14:00 UTC on a Wednesday is 10:00 in New York: open.
    assert _branch(flow, datetime(2024, 7, 3, 14, 0, tzinfo=UTC), schedules) == "working_hours"
    # 23:00 UTC is 19:00 in New York: closed.
    assert _branch(flow, datetime(2024, 7, 3, 23, 0, tzinfo=UTC), schedules) == "default"
    assert _branch(flow, datetime(2024, 7, 4, 14, 0, tzinfo=UTC), schedules) == "holidays"


def test_an_unmapped_schedule_takes_error_and_says_why() -> None:
    outcome = _branch(_imported(), datetime(2024, 7, 3, 14, 0, tzinfo=UTC))
    assert outcome.startswith("error") and "is not mapped" in outcome
