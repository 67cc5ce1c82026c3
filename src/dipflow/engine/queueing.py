"""What a queue activity asks of the contact center: its priority and skill requirements,
rendered for this call. Layer 2 (engine).

Shared by Queue Contact, Queue To Agent and the fallback-queue rule of `lifecycle`, so
that a contact keeps its priority and requirements wherever the flow sends it.
"""

from __future__ import annotations

from typing import Final

from dipflow.engine.commands import SkillNeed, SkillRelax
from dipflow.engine.context import Run
from dipflow.flow.model import Priority, SkillRelaxation
from dipflow.flow.model import SkillNeed as SkillNeedSpec

MAX_PRIORITY: Final = 10


def priority(run: Run, value: Priority) -> tuple[int, str | None]:
    """The priority for `Enqueue`, and a note when a template did not give one (then 0:
    the caller is queued, never refused, for a priority)."""
    if isinstance(value, int):
        return value, None
    text = run.render(value).strip()
    try:
        number = int(float(text))
    except ValueError:
        return 0, f"priority {value!r} rendered {text!r}, not an integer: queued at 0"
    if not 0 <= number <= MAX_PRIORITY or number != float(text):
        return 0, f"priority {value!r} rendered {text!r}, not 0..{MAX_PRIORITY}: queued at 0"
    return number, None


def _need(run: Run, need: SkillNeedSpec) -> SkillNeed:
    value = need.value
    if isinstance(value, bool):
        rendered = "true" if value else "false"
    elif isinstance(value, int):
        rendered = str(value)
    else:
        rendered = run.render(value).strip()
    return SkillNeed(
        skill=run.render(need.skill).strip(),
        condition=run.render(need.condition).strip(),
        value=rendered,
    )


def skills(
    run: Run, needs: list[SkillNeedSpec], relaxation: list[SkillRelaxation]
) -> tuple[tuple[SkillNeed, ...], tuple[SkillRelax, ...]]:
    """The requirements and relaxation steps, rendered now (Webex evaluates a variable
    skill requirement when the contact is queued)."""
    return (
        tuple(_need(run, need) for need in needs),
        tuple(
            SkillRelax(after_s=step.after_s, skills=tuple(_need(run, n) for n in step.skills))
            for step in relaxation
        ),
    )


def describe(needs: tuple[SkillNeed, ...]) -> list[str]:
    """For the trace: `language == es`."""
    return [f"{n.skill} {n.condition} {n.value}" for n in needs]
