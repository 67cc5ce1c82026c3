"""Queue Contact with skill requirements, relaxation and a priority from a variable: what
the engine asks of the center, rendered for this call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from dipflow.engine.commands import Enqueue, SkillNeed, SkillRelax
from dipflow.flow.model import Flow
from dipflow.testing import answer, queue_fail, run_flow

MakeFlow = Callable[..., Flow]


def _queue(make_flow: MakeFlow, **fields: Any) -> Flow:
    return make_flow(
        {
            "Queue": {
                "kind": "queue_contact",
                "queue": "Support",
                "on": {"out": "Music"},
                **fields,
            },
            "Music": {"kind": "play_music"},
        },
        variables=[
            {"name": "Lang", "default": "es"},
            {"name": "Tier", "default": "2"},
            {"name": "Level", "type": "integer", "default": 7},
        ],
        first="Queue",
    )


def _enqueues(result: Any) -> list[Enqueue]:
    return [c for c in result.commands if isinstance(c, Enqueue)]


def test_requirements_and_relaxation_are_rendered_when_the_contact_is_queued(
    make_flow: MakeFlow,
) -> None:
    flow = _queue(
        make_flow,
        skills=[
            {"skill": "language", "condition": "IS", "value": "{{ Lang }}"},
            {"skill": "tech", "condition": ">=", "value": "{{ Level }}"},
            {"skill": "vip", "value": True},
        ],
        relaxation=[
            {"after_s": 15, "skills": [{"skill": "tech", "condition": ">=", "value": 4}]},
            {"after_s": 60},
        ],
    )
    result = run_flow(flow, agent=[answer(after=20)])
    (enqueue,) = _enqueues(result)
    assert enqueue.skills == (
        SkillNeed(skill="language", condition="IS", value="es"),
        SkillNeed(skill="tech", condition=">=", value="7"),
        SkillNeed(skill="vip", condition="==", value="true"),
    )
    assert enqueue.relaxation == (
        SkillRelax(after_s=15.0, skills=(SkillNeed(skill="tech", condition=">=", value="4"),)),
        SkillRelax(after_s=60.0),
    )
    entry = next(e for e in result.trace if e.activity == "Queue")
    assert entry.inputs["skills"] == ["language IS es", "tech >= 7", "vip == true"]
    assert entry.inputs["relaxation"] == {"15s": ["tech >= 4"], "60s": []}


def test_a_priority_from_a_variable_is_rendered(make_flow: MakeFlow) -> None:
    # Webex's priority variable holds P1..P10 as 1..10; the import writes this template.
    result = run_flow(_queue(make_flow, priority="{{ 11 - (Tier | int) }}"))
    assert _enqueues(result)[0].priority == 9


@pytest.mark.parametrize("tier", ["", "zero", "42"])
def test_a_priority_that_renders_badly_queues_at_zero_and_says_so(
    make_flow: MakeFlow, tier: str
) -> None:
    flow = _queue(make_flow, priority="{{ Tier }}")
    result = run_flow(flow, variables={"Tier": tier})
    assert _enqueues(result)[0].priority == 0
    entry = next(e for e in result.trace if e.activity == "Queue")
    assert "queued at 0" in entry.inputs["priority_note"]


def test_the_fallback_queue_keeps_priority_and_requirements(make_flow: MakeFlow) -> None:
    flow = _queue(
        make_flow,
        fallback_queue="Overflow",
        priority=3,
        skills=[{"skill": "language", "value": "{{ Lang }}"}],
    )
    result = run_flow(flow, agent=[queue_fail(after=2, reason="unknown queue")])
    first, fallback = _enqueues(result)
    assert fallback.queue == "Overflow"
    assert (fallback.priority, fallback.skills) == (first.priority, first.skills)


def test_relaxation_steps_must_come_later_and_later(make_flow: MakeFlow) -> None:
    with pytest.raises(ValidationError, match="increasing after_s"):
        _queue(make_flow, relaxation=[{"after_s": 30}, {"after_s": 10}])
