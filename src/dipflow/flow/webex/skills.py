"""Queue Contact's skill requirements, relaxation and priority variable, both ways. Layer 1.

No public export carries skill requirements (every one of the shared exports has
`"skills": null`), so the shape read here is assembled from what Cisco publishes:

* the property is `skills: {"skillRequirements": [...], "relaxation": ...}` (Cisco's
  FlowIR reference: `{"skillRequirements": [], "relaxation": null}` is the empty value);
* a requirement has Cisco's `QueueSkillRequirementDTO` fields: `skillId`, `skillName`,
  `skillType`, `condition` (`IS`, `IS_NOT`, ...), `skillValue`;
* a relaxation step (Cisco lab LTRCCT-2296, "Skill Relaxation Step 1: after waiting in
  queue for 15 seconds ... >= 4") is a time and the requirements from then on.

Our reading where Cisco is silent: relaxation is `{"steps": [...]}` or a list of steps,
each `{"waitTime": seconds, "skillRequirements": [...]}` (`afterSeconds`, `timeout`
accepted for the time). Anything else stops the strict import naming the property, so
an export that routes by skills is never imported as one that does not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from dipflow.flow.model import SkillNeed, SkillRelaxation

_CONDITIONS_OUT: Final = {
    "==": "IS",
    "!=": "IS_NOT",
    ">": "GT",
    ">=": "GTE",
    "<": "LT",
    "<=": "LTE",
}
_TIME_KEYS: Final = ("waitTime", "afterSeconds", "timeout")
_STEP_KEYS: Final = ("steps", "relaxationSteps")
_VARIABLE = re.compile(r"^\s*(?:\{\{\s*)?([A-Za-z_][A-Za-z0-9_.]*)(?:\s*\}\})?\s*$")
_PRIORITY_TEMPLATE = re.compile(r"^\{\{ 11 - \(([A-Za-z_][A-Za-z0-9_.]*) \| int\) \}\}$")


class SkillsShapeError(ValueError):
    """The `skills` property has a shape this importer does not know."""


def _requirement(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise SkillsShapeError(f"a skill requirement is not an object: {raw!r}")
    skill = raw.get("skillName") or raw.get("skillName:name") or raw.get("skillId")
    condition = raw.get("condition")
    value = raw.get("skillValue", raw.get("value"))
    if not skill or not condition or value is None:
        raise SkillsShapeError(f"a skill requirement lacks skill, condition or value: {raw!r}")
    return SkillNeed(skill=str(skill), condition=str(condition), value=_value(value)).model_dump()


def _value(value: Any) -> str | int | bool:
    if isinstance(value, bool | int):
        return value
    return str(value)


def _requirements(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SkillsShapeError(f"skillRequirements is not a list: {raw!r}")
    return [_requirement(item) for item in raw]


def _steps(raw: Any) -> list[dict[str, Any]]:
    if raw in (None, {}, []):
        return []
    if isinstance(raw, Mapping):
        found = next((raw[k] for k in _STEP_KEYS if k in raw), None)
        if not isinstance(found, list):
            raise SkillsShapeError(f"relaxation without a list of steps: {raw!r}")
        raw = found
    if not isinstance(raw, list):
        raise SkillsShapeError(f"relaxation is not a list of steps: {raw!r}")
    steps: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise SkillsShapeError(f"a relaxation step is not an object: {item!r}")
        seconds = next((item[k] for k in _TIME_KEYS if k in item), None)
        try:
            after_s = float(str(seconds))
        except ValueError:
            raise SkillsShapeError(f"a relaxation step without a time: {item!r}") from None
        needs = _requirements(item.get("skillRequirements", []))
        steps.append(SkillRelaxation(after_s=after_s, skills=needs).model_dump())
    return steps


def import_skills(raw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`skills` of a Queue Contact -> (native `skills`, native `relaxation`)."""
    if raw in (None, {}):
        return [], []
    if not isinstance(raw, Mapping):
        raise SkillsShapeError(f"skills is not an object: {raw!r}")
    unknown = sorted(set(raw) - {"skillRequirements", "relaxation"})
    if unknown:
        raise SkillsShapeError(f"skills has properties this import does not know: {unknown}")
    return _requirements(raw.get("skillRequirements")), _steps(raw.get("relaxation"))


def import_priority_variable(raw: Any) -> str:
    """Webex's priority variable holds P1 (most urgent) .. P10 as 1..10: the native template
    that turns it into dipflow's 10..1 (a value outside 1..10 queues at 0, traced)."""
    match = _VARIABLE.match(str(raw))
    if match is None:
        raise SkillsShapeError(f"priorityVariable {raw!r} is not a variable")
    return "{{ 11 - (" + match.group(1) + " | int) }}"


def export_priority(priority: int | str) -> dict[str, Any] | None:
    """The Flow Designer priority properties; None when Flow Designer cannot express it."""
    if isinstance(priority, int):
        if not priority:
            return {}
        return {"priority": str(11 - priority), "priorityRadioGroup": "staticPriority"}
    match = _PRIORITY_TEMPLATE.match(priority.strip())
    if match is None:
        return None
    return {"priorityRadioGroup": "variablePriority", "priorityVariable": match.group(1)}


def _export_need(need: SkillNeed) -> dict[str, Any]:
    condition = need.condition.strip()
    return {
        "skillName": need.skill,
        "condition": _CONDITIONS_OUT.get(condition, condition),
        "skillValue": need.value,
    }


def export_skills(
    needs: Sequence[SkillNeed], relaxation: Sequence[SkillRelaxation]
) -> dict[str, Any] | None:
    if not needs and not relaxation:
        return None
    return {
        "skillRequirements": [_export_need(n) for n in needs],
        "relaxation": (
            {
                "steps": [
                    {
                        "waitTime": step.after_s,
                        "skillRequirements": [_export_need(n) for n in step.skills],
                    }
                    for step in relaxation
                ]
            }
            if relaxation
            else None
        ),
    }
