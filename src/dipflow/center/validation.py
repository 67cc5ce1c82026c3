"""Argument checks shared by both stores. Layer 3 (center).

Made before any state changes: bad input loses nothing."""

from __future__ import annotations

import math
from collections.abc import Sequence

from dipflow.center.config import MAX_PRIORITY, MIN_PRIORITY, AgentConfig, CenterConfig
from dipflow.center.errors import InvalidArgument, UnknownAgent, UnknownQueue, UnknownTeam
from dipflow.center.model import IDLE_REASON_OFFLINE, IDLE_REASON_RONA
from dipflow.center.skills import RelaxationStep, SkillRequirement, requirement_problem


class Validator:
    def __init__(self, config: CenterConfig) -> None:
        self.config = config
        self._queues = {q.name: q for q in config.queues}
        self._agents = {a.agent_id: a for a in config.agents}
        self._skills = config.skill_definitions()

    def enqueue(
        self,
        call_id: str,
        queue: str,
        priority: int,
        max_wait_s: float | None,
        fallback_queue: str | None,
    ) -> tuple[float | None, str | None]:
        """The contact's effective (max_wait_s, fallback_queue) in `queue`."""
        config = self._queues.get(queue)
        if config is None:
            raise UnknownQueue(queue)
        if fallback_queue is not None and fallback_queue not in self._queues:
            raise UnknownQueue(fallback_queue)
        if not call_id:
            raise InvalidArgument("call_id must not be empty")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InvalidArgument(f"priority must be an integer, not {priority!r}")
        if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
            raise InvalidArgument(f"priority {priority} outside [{MIN_PRIORITY}, {MAX_PRIORITY}]")
        if max_wait_s is not None and not (math.isfinite(max_wait_s) and max_wait_s > 0):
            raise InvalidArgument(f"max_wait_s must be a positive number, not {max_wait_s!r}")
        return (
            max_wait_s if max_wait_s is not None else config.max_wait_s,
            fallback_queue if fallback_queue is not None else config.fallback_queue,
        )

    def queue(self, queue: str) -> None:
        if queue not in self._queues:
            raise UnknownQueue(queue)

    def named_agent(
        self,
        agent_id: str,
        requirements: Sequence[SkillRequirement],
        relaxation: Sequence[RelaxationStep],
    ) -> None:
        """A contact for one agent: a configured agent, and no skills (the flow chose the
        agent already)."""
        self.agent(agent_id)
        if requirements or relaxation:
            raise InvalidArgument("a contact for a named agent takes no skill requirements")

    def agent(self, agent_id: str) -> AgentConfig:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id)
        return agent

    def login(self, agent_id: str, teams: Sequence[str] | None) -> tuple[list[str], list[str]]:
        """The teams logged in to (default: all of the agent's) and the queues they serve."""
        agent = self.agent(agent_id)
        chosen = list(agent.teams if teams is None else teams)
        for team in chosen:
            if team not in agent.teams:
                raise UnknownTeam(agent_id, team)
        return chosen, list(self.config.queues_for_teams(chosen))

    def idle_reason(self, reason: str) -> None:
        if not reason:
            raise InvalidArgument("an idle reason code is required")
        codes = self.config.idle_codes
        # "rona" (a failed agent leg is a ring-no-answer) and "offline" (the desktop is
        # gone, see dipflow.web.presence) are the center's own codes: accepted whatever
        # the desktop's menu of codes.
        own = (IDLE_REASON_RONA, IDLE_REASON_OFFLINE)
        if codes is not None and reason not in codes and reason not in own:
            raise InvalidArgument(f"unknown idle reason {reason!r}; configured: {codes}")

    def skills(
        self, requirements: Sequence[SkillRequirement], relaxation: Sequence[RelaxationStep]
    ) -> None:
        """Requirements name defined skills, with conditions and values their type allows
        (in normal form); relaxation steps come later and later."""
        for requirement in [*requirements, *(r for s in relaxation for r in s.requirements)]:
            normal, problem = requirement_problem(
                requirement.skill, requirement.condition.value, requirement.value, self._skills
            )
            if problem is not None:
                raise InvalidArgument(problem)
            if normal != requirement:
                raise InvalidArgument(
                    f"requirement {requirement.describe()!r} is not in normal form"
                )
        previous = 0.0
        for step in relaxation:
            if not (math.isfinite(step.after_s) and step.after_s > previous):
                raise InvalidArgument(
                    "relaxation steps need increasing positive times, "
                    f"not {[s.after_s for s in relaxation]}"
                )
            previous = step.after_s
