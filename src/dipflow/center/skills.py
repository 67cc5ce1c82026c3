"""Skills-based routing: skill definitions, requirements and the match test. Layer 3 (center).

Webex Contact Center's model (Cisco, "Manage skill profile" and "About Skills-based
Routing"): a skill is defined once with a type (proficiency 0..10, boolean, text, enum);
an agent's skill profile gives each skill a value; a contact carries skill requirements
(skill, condition, value) set by the flow's Queue Contact activity, and is offered only
to agents who meet *all* of them. Relaxation steps replace the requirements after the
contact has waited a given time, so that less qualified agents may take it.

Both stores decide with the same rule: `matches` here, `matches` in center.lua (the
differential test runs them side by side). Values travel as text (`normal_value`), so the
Lua half compares exactly what Python compares: numbers for proficiency, text otherwise.

A skill missing from an agent's profile counts as its type's zero: proficiency 0, boolean
false, text and enum empty. Our reading: Cisco does not say; this makes "Spanish is not
true" match an agent who has no Spanish skill at all, and "proficiency < 3" match an
agent without the skill, which is what a supervisor would expect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class SkillType(StrEnum):
    PROFICIENCY = "proficiency"
    """An integer 0..10 (Webex proficiency skills)."""
    BOOLEAN = "boolean"
    TEXT = "text"
    """Free text, matched exactly (case and all)."""
    ENUM = "enum"
    """One of the definition's `values`."""


class Condition(StrEnum):
    EQ = "=="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="


ORDERED: Final = frozenset({Condition.GT, Condition.GE, Condition.LT, Condition.LE})
"""Conditions only a proficiency skill accepts."""

CONDITION_NAMES: Final[dict[str, Condition]] = {
    **{c.value: c for c in Condition},
    "=": Condition.EQ,
    "is": Condition.EQ,
    "equals": Condition.EQ,
    "eq": Condition.EQ,
    "is_not": Condition.NE,
    "isnot": Condition.NE,
    "not": Condition.NE,
    "ne": Condition.NE,
    "<>": Condition.NE,
    "gt": Condition.GT,
    "gte": Condition.GE,
    "ge": Condition.GE,
    "lt": Condition.LT,
    "lte": Condition.LE,
    "le": Condition.LE,
}
"""How flows (and Webex exports: `IS`, `IS_NOT`, `GTE`...) may write a condition; any case."""

ZERO: Final[dict[SkillType, str]] = {
    SkillType.PROFICIENCY: "0",
    SkillType.BOOLEAN: "false",
    SkillType.TEXT: "",
    SkillType.ENUM: "",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SkillRequirement:
    """One requirement of a contact, in normal form (see `normal_value`)."""

    skill: str
    condition: Condition
    value: str

    def describe(self) -> str:
        return f"{self.skill} {self.condition.value} {self.value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RelaxationStep:
    """After the contact has waited `after_s` in the center, its requirements become
    `requirements` (an empty tuple: any agent of the queue)."""

    after_s: float
    requirements: tuple[SkillRequirement, ...] = ()


def parse_condition(text: str) -> Condition | None:
    return CONDITION_NAMES.get(text.strip().lower())


def normal_value(kind: SkillType, value: object, values: Sequence[str] = ()) -> str | None:
    """`value` as the text both stores compare, or None when the type does not allow it."""
    if kind is SkillType.PROFICIENCY:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            number = int(value.strip())
        else:
            return None
        return str(number) if 0 <= number <= 10 else None
    if kind is SkillType.BOOLEAN:
        if isinstance(value, bool):
            return "true" if value else "false"
        text = str(value).strip().lower()
        return text if text in ("true", "false") else None
    text = str(value)
    if kind is SkillType.ENUM and text not in values:
        return None
    return text


def requirement_problem(
    skill: str,
    condition: str,
    value: object,
    definitions: Mapping[str, tuple[SkillType, tuple[str, ...]]],
) -> tuple[SkillRequirement | None, str | None]:
    """Normalise one requirement against the skill definitions: (requirement, None), or
    (None, the reason it is not valid)."""
    definition = definitions.get(skill)
    if definition is None:
        return None, f"unknown skill {skill!r}"
    kind, values = definition
    parsed = parse_condition(condition)
    if parsed is None:
        return None, f"skill {skill!r}: unknown condition {condition!r}"
    if parsed in ORDERED and kind is not SkillType.PROFICIENCY:
        return None, f"skill {skill!r} is a {kind.value} skill: only == and != apply"
    normal = normal_value(kind, value, values)
    if normal is None:
        allowed = {
            SkillType.PROFICIENCY: "an integer 0..10",
            SkillType.BOOLEAN: "true or false",
            SkillType.ENUM: f"one of {list(values)}",
            SkillType.TEXT: "text",
        }[kind]
        return None, f"skill {skill!r}: value {value!r} is not {allowed}"
    return SkillRequirement(skill=skill, condition=parsed, value=normal), None


def meets(have: str, requirement: SkillRequirement, kind: SkillType) -> bool:
    """Does an agent whose skill value is `have` (normal text) meet `requirement`?"""
    condition = requirement.condition
    if kind is SkillType.PROFICIENCY:
        left, right = int(have), int(requirement.value)
        return {
            Condition.EQ: left == right,
            Condition.NE: left != right,
            Condition.GT: left > right,
            Condition.GE: left >= right,
            Condition.LT: left < right,
            Condition.LE: left <= right,
        }[condition]
    if condition is Condition.EQ:
        return have == requirement.value
    return have != requirement.value


def matches(
    agent_skills: Mapping[str, str],
    requirements: Iterable[SkillRequirement],
    types: Mapping[str, SkillType],
) -> bool:
    """All requirements met (no requirement: any agent)."""
    for requirement in requirements:
        kind = types[requirement.skill]
        have = agent_skills.get(requirement.skill, ZERO[kind])
        if not meets(have, requirement, kind):
            return False
    return True


def requirements_to_json(requirements: Iterable[SkillRequirement]) -> list[list[str]]:
    """`[[skill, condition, value], ...]`: how the Redis store keeps them."""
    return [[r.skill, r.condition.value, r.value] for r in requirements]


def requirements_from_json(raw: object) -> tuple[SkillRequirement, ...]:
    if not isinstance(raw, list):  # cjson writes an empty list as {}
        return ()
    return tuple(
        SkillRequirement(skill=str(skill), condition=Condition(str(cond)), value=str(value))
        for skill, cond, value in raw
    )
