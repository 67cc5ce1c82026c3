"""Activities that only decide or compute: case, parse, business hours, set caller id."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dipflow.engine.context import Executor, Run
from dipflow.engine.results import Done, Result
from dipflow.engine.state import Cursor
from dipflow.engine.values import convert, empty_value
from dipflow.flow import jsonpath, xpath
from dipflow.flow.filters import to_text
from dipflow.flow.model import (
    WEEKDAYS,
    BusinessHoursActivity,
    CaseActivity,
    HttpOutput,
    ParseActivity,
    ParseFormat,
    Schedule,
    SetCallerIdActivity,
)

# -- case ---------------------------------------------------------------------------------


def case(run: Run, cursor: Cursor, activity: CaseActivity) -> Result:
    value = run.render(activity.expression).strip()
    run.inputs(cursor, {"expression": activity.expression, "value": value})
    for output, template in activity.cases.items():
        if run.render(template).strip() == value:
            return Done(output=output, outputs={"value": value, "matched": template})
    return Done(output="default", outputs={"value": value})


# -- parse --------------------------------------------------------------------------------


def store_outputs(
    run: Run, outputs: list[HttpOutput], find: Callable[[str], Any]
) -> dict[str, Any]:
    """Each output's path looked up with `find`, converted to its variable's type and
    stored; a path that finds nothing gives the variable's empty value."""
    facts: dict[str, Any] = {}
    for output in outputs:
        declared = run.index.variables.get(output.variable)
        found = find(output.path)
        if found is None:
            value = empty_value(declared)  # not found is an answer, not a failure
        else:
            value = convert(found, declared.type) if declared is not None else found
        run.state.variables[output.variable] = value
        facts[output.variable] = value
    return facts


def parse(run: Run, cursor: Cursor, activity: ParseActivity) -> Result:
    document = run.value_of(activity.input)
    run.inputs(cursor, {"input": activity.input, "content_type": activity.content_type.value})
    try:
        find = _finder(activity, document)
    except ValueError as exc:
        if not activity.single_output:
            return Done(output="error", error=str(exc))
        # Webex's Parse has no error output: the variables are emptied and the flow goes on.
        facts = store_outputs(run, activity.parse, lambda path: None)
        return Done(output="out", outputs=facts, error=str(exc))
    return Done(output="out", outputs=store_outputs(run, activity.parse, find))


def _finder(activity: ParseActivity, document: Any) -> Callable[[str], Any]:
    """A path lookup into `document`; `ValueError` when there is nothing to parse."""
    if document is None or document == "":
        raise ValueError(f"`{activity.input}` is empty: nothing to parse")
    if activity.content_type is ParseFormat.XML:
        if not isinstance(document, str):
            raise ValueError("XML to parse must be text")
        root = xpath.parse_document(document)  # XmlDocumentError is a ValueError
        return lambda path: xpath.extract(path, root)
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg} at {exc.pos}") from exc
    elif not isinstance(document, dict | list):
        raise ValueError(f"cannot parse a {type(document).__name__} as JSON")
    data = document
    return lambda path: jsonpath.extract(path, data)


# -- business hours -----------------------------------------------------------------------


def _zone(schedule: Schedule) -> ZoneInfo:
    try:
        return ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {schedule.timezone!r}") from exc


def _in_shift(moment: datetime, day: date, start: time, end: time, days: list[str]) -> bool:
    """Whether `moment` (local) falls in a shift that starts on `day`."""
    if WEEKDAYS[day.weekday()] not in days:
        return False
    begin = datetime.combine(day, start, moment.tzinfo)
    finish = datetime.combine(day, end, moment.tzinfo)
    if end <= start:
        finish += timedelta(days=1)  # runs past midnight
    return begin <= moment < finish


def classify(schedule: Schedule, moment: datetime) -> str:
    """The business-hours output for `moment` (aware): override, holidays, working
    hours, else default."""
    local = moment.astimezone(_zone(schedule))
    naive = local.replace(tzinfo=None)
    for override in schedule.overrides:
        if datetime.fromisoformat(override.start) <= naive < datetime.fromisoformat(override.end):
            return "override"
    today = local.date()
    for holiday in schedule.holidays:
        if holiday.start <= today <= (holiday.end or holiday.start):
            return "holidays"
    for shift in schedule.working_hours:
        for day in (today, today - timedelta(days=1)):
            if _in_shift(local, day, shift.start, shift.end, list(shift.days)):
                return "working_hours"
    return "default"


def business_hours(run: Run, cursor: Cursor, activity: BusinessHoursActivity) -> Result:
    schedule = activity.schedule
    if schedule is None:
        ident = activity.schedule_id or ""
        schedule = run.index.schedules.get(ident)
        if schedule is None:
            run.inputs(cursor, {"schedule_id": ident})
            return Done(
                output="error",
                error=f"schedule {ident!r} is not mapped (schedules: in the flow or the "
                "configuration)",
            )
    wall = run.now + run.state.clock_offset
    moment = datetime.fromtimestamp(wall, ZoneInfo("UTC"))
    output = classify(schedule, moment)
    local = moment.astimezone(_zone(schedule))
    inputs: dict[str, object] = {"time": local.isoformat(), "timezone": schedule.timezone}
    if activity.schedule_id:
        inputs["schedule_id"] = activity.schedule_id
    run.inputs(cursor, inputs)
    return Done(output=output, outputs={"time": local.isoformat()})


# -- set caller id ------------------------------------------------------------------------


def set_caller_id(run: Run, cursor: Cursor, activity: SetCallerIdActivity) -> Result:
    number = run.render(activity.caller_id).strip()
    name = run.render(activity.name).strip() if activity.name else ""
    run.inputs(cursor, {"caller_id": number, "name": name})
    if not number:
        # As Webex's bare Set Caller ID: nothing to set, the caller id stays as it was.
        return Done(output="out", outputs={"CallerID": run.state.caller_id or ""})
    run.state.caller_id = number
    run.expose(cursor, {"CallerID": number, "CallerName": name})
    return Done(output="out", outputs={"CallerID": number, "CallerName": to_text(name)})


EXECUTORS: Final[dict[str, Executor]] = {
    "case": case,
    "parse": parse,
    "business_hours": business_hours,
    "set_caller_id": set_caller_id,
}
