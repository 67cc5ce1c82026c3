"""Queue Contact's skill requirements, relaxation and priority variable, imported from and
exported to Flow Designer. No public export routes by skills (all have `"skills": null`),
so these start from a real one (CL_1_salesService, Cisco Live LTRCCT-2004) with its Queue
Contact given skills in the shape Cisco documents (see dipflow/flow/webex/skills.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dipflow.engine.commands import Enqueue
from dipflow.flow.model import QueueContactActivity, SkillNeed, SkillRelaxation
from dipflow.flow.webex import WebexImportError, import_webex_export
from dipflow.flow.webex.exporter import export_webex
from dipflow.testing import answer, press, run_flow

EXPORT = Path(__file__).parent / "exports" / "ciscolivelabs__CL_1_salesService.json"

SKILLS = {
    "skillRequirements": [
        {"skillId": "2a7c...", "skillName": "Webex CC Lab Expert", "skillType": "PROFICIENCY",
         "condition": "GTE", "skillValue": "7"},
        {"skillName": "Language", "skillType": "ENUM", "condition": "IS",
         "skillValue": "{{ rDigit }}"},
    ],
    "relaxation": {
        "steps": [
            {"waitTime": 15, "skillRequirements": [
                {"skillName": "Webex CC Lab Expert", "condition": "GTE", "skillValue": "4"}]},
            {"waitTime": "60", "skillRequirements": []},
        ]
    },
}  # fmt: skip


def _export_with(**props: Any) -> dict[str, Any]:
    export = json.loads(EXPORT.read_text())
    changed = copy.deepcopy(export)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            inner = node.get("properties")
            if isinstance(inner, dict) and inner.get("activityName") == "queue-contact":
                inner.update(props)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(changed)
    return changed


def _queue_contacts(export: dict[str, Any]) -> list[QueueContactActivity]:
    flow = import_webex_export(export, filename=EXPORT.name).flow
    return [a for a in flow.activities.values() if isinstance(a, QueueContactActivity)]


def test_skill_requirements_and_relaxation_are_imported() -> None:
    queue = _queue_contacts(_export_with(skills=SKILLS))[0]
    assert queue.skills == [
        SkillNeed(skill="Webex CC Lab Expert", condition="GTE", value="7"),
        SkillNeed(skill="Language", condition="IS", value="{{ rDigit }}"),
    ]
    assert queue.relaxation == [
        SkillRelaxation(
            after_s=15, skills=[SkillNeed(skill="Webex CC Lab Expert", condition="GTE", value="4")]
        ),
        SkillRelaxation(after_s=60, skills=[]),
    ]


def test_the_empty_skills_value_means_no_requirements() -> None:
    empty = {"skillRequirements": [], "relaxation": None}
    assert all(
        not q.skills and not q.relaxation for q in _queue_contacts(_export_with(skills=empty))
    )


def test_a_priority_variable_becomes_a_template_of_it() -> None:
    export = _export_with(priorityRadioGroup="variablePriority", priorityVariable="{{Tier}}")
    queue = _queue_contacts(export)[0]
    assert queue.priority == "{{ 11 - (Tier | int) }}"


@pytest.mark.parametrize(
    "skills",
    [
        {"skillRequirements": [{"skillName": "x"}]},
        {"skillRequirements": [], "relaxation": {"rules": []}},
        {"skillRequirements": [], "relaxation": [{"skillRequirements": []}]},
        {"skillRequirements": [], "weights": {}},
        ["x"],
    ],
)
def test_skills_in_a_shape_the_import_does_not_know_stop_it(skills: Any) -> None:
    with pytest.raises(WebexImportError) as caught:
        _queue_contacts(_export_with(skills=skills))
    assert "skills" in str(caught.value)


def test_skills_and_priority_variable_survive_the_round_trip() -> None:
    export = _export_with(
        skills=SKILLS, priorityRadioGroup="variablePriority", priorityVariable="Tier"
    )
    first = import_webex_export(export, filename=EXPORT.name)
    again = import_webex_export(json.loads(json.dumps(export_webex(first.flow))))
    assert again.document == first.document
    queue = next(a for a in again.flow.activities.values() if isinstance(a, QueueContactActivity))
    assert queue.skills and queue.relaxation and queue.priority == "{{ 11 - (Tier | int) }}"


def test_an_imported_flow_queues_with_its_skills() -> None:
    flow = import_webex_export(_export_with(skills=SKILLS), filename=EXPORT.name).flow
    result = run_flow(
        flow,
        caller=[press("1", when="salesService")],
        agent=[answer(after=30)],
        variables={"rDigit": "es"},
        max_time=120,
    )
    (enqueue,) = [c for c in result.commands if isinstance(c, Enqueue)]
    assert [(n.skill, n.value) for n in enqueue.skills] == [
        ("Webex CC Lab Expert", "7"),
        ("Language", "es"),
    ]
    assert [s.after_s for s in enqueue.relaxation] == [15.0, 60.0]
