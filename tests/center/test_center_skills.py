"""Skills-based routing, on the memory store AND on Redis (the `center` fixture runs both).

The sample configuration's skill profiles: alice (team blue) is a "senior": tech 8,
language en, region EMEA; bob (blue, green) has tech 3, language es, vip; carol (green)
has no skills at all (every skill at its type's zero).
"""

from __future__ import annotations

import pytest

from dipflow.center import (
    CenterConfig,
    ContactCenter,
    ContactOffered,
    InvalidArgument,
)
from dipflow.center.skills import Condition, RelaxationStep, SkillRequirement
from tests.center.center_helpers import FakeClock, Recorder, check_snapshot, requirement


async def ready(center: ContactCenter, clock: FakeClock, *agents: str) -> None:
    """Log in and make available, in this order (the first is the longest available)."""
    for agent in agents:
        await center.login(agent)
        clock.advance(1)
        await center.set_available(agent)


def offered_to(recorder: Recorder, call_id: str) -> list[str]:
    return [n.agent_id for n in recorder.of(ContactOffered) if n.call_id == call_id]  # type: ignore[attr-defined]


async def test_the_longest_available_agent_who_meets_the_requirements_gets_the_contact(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await ready(center, clock, "bob", "alice")  # bob has waited longest
    await center.enqueue("c1", "sales", skills=[requirement("tech", ">=", 5)])
    assert offered_to(recorder, "c1") == ["alice"]
    await center.enqueue("c2", "sales")  # no requirement: longest available (bob)
    assert offered_to(recorder, "c2") == ["bob"]


async def test_a_contact_waits_for_an_agent_who_meets_its_requirements(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await ready(center, clock, "bob")
    await center.enqueue("c1", "sales", skills=[requirement("language", "is", "en")])
    assert offered_to(recorder, "c1") == []
    snap = await center.snapshot()
    check_snapshot(snap)
    sales = next(q for q in snap.queues if q.name == "sales")
    assert sales.agents_available == 1  # bob is available, and still c1 waits
    assert sales.waiting[0].requirements == (requirement("language", "==", "en"),)
    await ready(center, clock, "alice")
    assert offered_to(recorder, "c1") == ["alice"]


async def test_an_agent_passes_over_contacts_they_cannot_serve(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    """Offer order is kept among the contacts an agent can take: bob skips the two he
    cannot serve and takes the next one; alice then takes the first in line."""
    await center.enqueue("c1", "sales", skills=[requirement("tech", ">=", 9)])
    clock.advance(1)
    await center.enqueue("c2", "sales", priority=2, skills=[requirement("region", "==", "EMEA")])
    clock.advance(1)
    await center.enqueue("c3", "sales")
    clock.advance(1)
    await center.enqueue("c4", "sales")
    await ready(center, clock, "bob")
    assert offered_to(recorder, "c3") == ["bob"]
    await ready(center, clock, "alice")
    assert offered_to(recorder, "c2") == ["alice"]  # c2 (priority 2) before c4; c1 waits on
    assert offered_to(recorder, "c1") == [] and offered_to(recorder, "c4") == []
    check_snapshot(await center.snapshot())


async def test_relaxation_lowers_the_requirements_after_the_contact_has_waited(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    """The Cisco lab: tech >= 7 nobody has, relaxed to >= 3 after 15 s, to nothing after 40."""
    await ready(center, clock, "bob")
    steps = [
        RelaxationStep(after_s=15.0, requirements=(requirement("tech", ">=", 3),)),
        RelaxationStep(after_s=40.0),
    ]
    await center.enqueue("c1", "sales", skills=[requirement("tech", ">=", 7)], relaxation=steps)
    clock.advance(14.9)
    await center.tick()
    assert offered_to(recorder, "c1") == []
    clock.advance(0.1)
    await center.tick()
    assert offered_to(recorder, "c1") == ["bob"]


async def test_relaxation_during_an_offer_applies_when_the_offer_fails(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await ready(center, clock, "alice", "bob")
    steps = [RelaxationStep(after_s=5.0)]
    await center.enqueue("c1", "sales", skills=[requirement("tech", ">=", 5)], relaxation=steps)
    assert offered_to(recorder, "c1") == ["alice"]
    clock.advance(6)
    await center.tick()  # relaxed while ringing at alice: nothing else happens
    await center.decline("alice", "c1")  # back to the queue, now with no requirement: bob
    assert offered_to(recorder, "c1") == ["alice", "bob"]


async def test_a_skill_missing_from_the_profile_counts_as_zero(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await ready(center, clock, "bob", "carol")  # both serve "support"
    await center.enqueue("c1", "support", skills=[requirement("vip", "!=", "true")])
    assert offered_to(recorder, "c1") == ["carol"]  # carol has no vip skill: false
    assert await center.accept("carol", "c1")
    await center.end_contact("c1")
    await center.enqueue("c2", "support", skills=[requirement("tech", "<", 1)])
    await center.enqueue("c3", "support", skills=[requirement("region", "is_not", "EMEA")])
    assert offered_to(recorder, "c3") == ["bob"]  # carol is in wrap-up; bob has no region
    assert offered_to(recorder, "c2") == []
    await center.end_wrap_up("carol")
    assert offered_to(recorder, "c2") == ["carol"]


async def test_requirements_that_do_not_fit_the_skills_are_refused_and_change_nothing(
    center: ContactCenter, clock: FakeClock
) -> None:
    await ready(center, clock, "alice")
    before = await center.snapshot()
    bad = [
        SkillRequirement(skill="cooking", condition=Condition.EQ, value="true"),
        SkillRequirement(skill="language", condition=Condition.GE, value="en"),
        SkillRequirement(skill="language", condition=Condition.EQ, value="fr"),
        SkillRequirement(skill="tech", condition=Condition.GE, value="11"),
        SkillRequirement(skill="vip", condition=Condition.EQ, value="yes"),
    ]
    for requirement_ in bad:
        with pytest.raises(InvalidArgument):
            await center.enqueue("c1", "sales", skills=[requirement_])
    with pytest.raises(InvalidArgument, match="increasing"):
        await center.enqueue(
            "c1",
            "sales",
            relaxation=[RelaxationStep(after_s=10.0), RelaxationStep(after_s=5.0)],
        )
    assert (await center.snapshot()).queues == before.queues


def test_flows_may_write_conditions_as_webex_does(center: ContactCenter) -> None:
    for written in ("IS", "is", "==", "=", "EQUALS"):
        assert center.requirement("language", written, "es")[0] == requirement(
            "language", "==", "es"
        )
    assert center.requirement("tech", "GTE", "7")[0] == requirement("tech", ">=", 7)
    assert center.requirement("vip", "IS_NOT", "TRUE")[0] == requirement("vip", "!=", True)
    assert center.requirement("tech", ">=", "seven") == (
        None,
        "skill 'tech': value 'seven' is not an integer 0..10",
    )


def test_the_configuration_checks_skills_and_profiles() -> None:
    base = {
        "skills": [{"name": "tech"}, {"name": "language", "type": "enum", "values": ["en"]}],
        "queues": [{"name": "q", "teams": ["t"]}],
    }
    good = CenterConfig.model_validate(
        {
            **base,
            "skill_profiles": {"p": {"tech": 4}},
            "agents": [
                {"agent_id": "a", "name": "A", "teams": ["t"], "skill_profile": "p",
                 "skills": {"language": "en"}},
            ],
        }
    )  # fmt: skip
    assert good.agent_skills(good.agents[0]) == {"tech": "4", "language": "en"}
    problems = [
        ({"skill_profiles": {"p": {"cooking": 1}}}, "'cooking' is not defined"),
        ({"skill_profiles": {"p": {"tech": 12}}}, "12 is not a value of the proficiency"),
        ({"skill_profiles": {"p": {"language": "fr"}}}, "'fr' is not a value of the enum"),
        (
            {"agents": [{"agent_id": "a", "name": "A", "skill_profile": "nope"}]},
            "skill_profile 'nope' is not in skill_profiles",
        ),
        ({"skills": [{"name": "x", "type": "enum"}]}, "an enum skill lists its values"),
        ({"skills": [{"name": "x"}, {"name": "x"}]}, "duplicate skill names"),
    ]
    for extra, message in problems:
        with pytest.raises(ValueError, match=message):
            CenterConfig.model_validate({**base, **extra})
