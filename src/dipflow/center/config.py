"""Contact-center configuration (pydantic). Layer 3 (center).

As it appears under `center:` in dipflow.yaml."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dipflow.center.skills import SkillType, normal_value

MIN_PRIORITY = -(2**20)
MAX_PRIORITY = 2**20
"""Priorities are bounded so that (priority, arrival) packs into one exact float score
(a Redis sorted-set score is an IEEE double; see docs/center.md)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SkillDefinition(_Strict):
    """A skill agents have and contacts may require (Webex "skill definition")."""

    name: str = Field(min_length=1)
    type: SkillType = SkillType.PROFICIENCY
    """`proficiency` (0..10), `boolean`, `text` (matched exactly) or `enum`."""
    values: list[str] = Field(default_factory=list)
    """The allowed values of an `enum` skill."""

    @model_validator(mode="after")
    def _check_values(self) -> Self:
        if self.type is SkillType.ENUM and not self.values:
            raise ValueError(f"skill {self.name!r}: an enum skill lists its values")
        if self.type is not SkillType.ENUM and self.values:
            raise ValueError(f"skill {self.name!r}: only an enum skill has values")
        return self


SkillValue = int | bool | str


class QueueConfig(_Strict):
    """One queue. Routing is LONGEST_AVAILABLE_AGENT over the agents of `teams` who meet the
    contact's skill requirements (if it has any)."""

    name: str = Field(min_length=1)
    """Name the flow's Queue Contact activity uses."""
    teams: list[str] = Field(default_factory=list)
    """Teams whose logged-in agents serve this queue."""
    max_wait_s: float | None = Field(default=None, gt=0)
    """A contact waiting longer moves to `fallback_queue`, or leaves with reason "max_wait"."""
    fallback_queue: str | None = None
    """Where a contact goes after `max_wait_s`; must name another configured queue."""
    ring_timeout_s: float = Field(default=15.0, gt=0)
    """How long an offer rings before it is a ring-no-answer (RONA)."""


class AgentConfig(_Strict):
    """One agent. Password hashes for the desktop login belong to the web layer, not here."""

    agent_id: str = Field(min_length=1)
    name: str
    """Display name for the supervisor page."""
    teams: list[str] = Field(default_factory=list)
    """Teams the agent may log in to (all of them by default)."""
    sip_uri: str | None = None
    """Where the runtime rings the agent's phone, when the agent uses one."""
    email: str | None = None
    """How a flow may name the agent (Webex Queue To Agent looks agents up by email)."""
    skill_profile: str | None = None
    """A profile of `CenterConfig.skill_profiles`: the agent's skill values."""
    skills: dict[str, SkillValue] = Field(default_factory=dict)
    """Skill values of this agent alone, over those of its profile."""


class CenterConfig(_Strict):
    """The whole contact center."""

    queues: list[QueueConfig] = Field(default_factory=list)
    agents: list[AgentConfig] = Field(default_factory=list)
    wrap_up_s: float = Field(default=10.0, ge=0)
    """After-call work: the agent is in wrap_up this long, then available again."""
    default_handle_time_s: float = Field(default=120.0, gt=0)
    """Handle time the wait estimate assumes before a queue has handled any contact."""
    handle_time_weight: float = Field(default=0.2, gt=0, le=1)
    """Weight of the newest handle time in the moving average (EWMA alpha)."""
    idle_codes: list[str] | None = Field(
        default_factory=lambda: ["break", "lunch", "meeting", "training", "other"]
    )
    """Reason codes an agent may pick for idle (the desktop's "not ready" menu); None
    accepts any. The center itself uses "login" and "rona" (see model.py)."""
    position_updates: int = Field(default=10, ge=0)
    """`QueuePositionChanged` is pushed for the first N waiting contacts of a queue only;
    deeper callers ask `queue_status` (keeps each event O(N), not O(queue length))."""
    skills: list[SkillDefinition] = Field(default_factory=list)
    """Skills agents may have and flows may require (skills-based routing)."""
    skill_profiles: dict[str, dict[str, SkillValue]] = Field(default_factory=dict)
    """Named sets of skill values (Webex skill profiles), given to agents by name."""

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        names = [q.name for q in self.queues]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate queue names: {dupes}")
        ids = [a.agent_id for a in self.agents]
        dupes = sorted({a for a in ids if ids.count(a) > 1})
        if dupes:
            raise ValueError(f"duplicate agent ids: {dupes}")
        for queue in self.queues:
            if queue.fallback_queue is None:
                continue
            if queue.fallback_queue not in names:
                raise ValueError(
                    f"queue {queue.name!r}: fallback_queue {queue.fallback_queue!r} is not a queue"
                )
            if queue.fallback_queue == queue.name:
                raise ValueError(f"queue {queue.name!r}: fallback_queue is the queue itself")
        skill_names = [d.name for d in self.skills]
        dupes = sorted({n for n in skill_names if skill_names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate skill names: {dupes}")
        for name, profile in self.skill_profiles.items():
            self._check_skill_values(f"skill profile {name!r}", profile)
        for agent in self.agents:
            if agent.skill_profile is not None and agent.skill_profile not in self.skill_profiles:
                raise ValueError(
                    f"agent {agent.agent_id!r}: skill_profile {agent.skill_profile!r} "
                    "is not in skill_profiles"
                )
            self._check_skill_values(f"agent {agent.agent_id!r}", agent.skills)
        return self

    def _check_skill_values(self, where: str, values: dict[str, SkillValue]) -> None:
        definitions = {d.name: d for d in self.skills}
        for skill, value in values.items():
            definition = definitions.get(skill)
            if definition is None:
                raise ValueError(f"{where}: skill {skill!r} is not defined under skills")
            if normal_value(definition.type, value, definition.values) is None:
                raise ValueError(
                    f"{where}: {value!r} is not a value of the {definition.type.value} "
                    f"skill {skill!r}"
                )

    def skill_types(self) -> dict[str, SkillType]:
        return {d.name: d.type for d in self.skills}

    def skill_definitions(self) -> dict[str, tuple[SkillType, tuple[str, ...]]]:
        return {d.name: (d.type, tuple(d.values)) for d in self.skills}

    def agent_skills(self, agent: AgentConfig) -> dict[str, str]:
        """The agent's skill values in normal form (profile, then the agent's own)."""
        definitions = {d.name: d for d in self.skills}
        merged: dict[str, SkillValue] = {}
        if agent.skill_profile is not None:
            merged.update(self.skill_profiles[agent.skill_profile])
        merged.update(agent.skills)
        out: dict[str, str] = {}
        for skill, value in merged.items():
            definition = definitions[skill]
            normal = normal_value(definition.type, value, definition.values)
            if normal is not None:  # checked at load; kept total for mypy
                out[skill] = normal
        return out

    def queue(self, name: str) -> QueueConfig | None:
        for queue in self.queues:
            if queue.name == name:
                return queue
        return None

    def agent(self, agent_id: str) -> AgentConfig | None:
        for agent in self.agents:
            if agent.agent_id == agent_id:
                return agent
        return None

    def queues_for_teams(self, teams: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        """Queues served by an agent logged in to `teams`, in configuration order."""
        wanted = set(teams)
        return tuple(q.name for q in self.queues if wanted.intersection(q.teams))
