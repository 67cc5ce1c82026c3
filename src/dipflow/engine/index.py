"""A flow prepared for running: lookups the engine needs on every step, computed once.

Layer 2 (engine).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from dipflow.engine.errors import VariableOverrideError
from dipflow.engine.state import MAIN_FLOW, SUBFLOW_PREFIX
from dipflow.engine.values import Masker, convert
from dipflow.flow.model import ActivityBase, Flow, FlowSettings, Schedule, Variable


class FlowIndex:
    """Activities and their wiring per flow ("main" or an event name), variables by name."""

    __slots__ = (
        "_activities",
        "_event_flows",
        "_has_json_defaults",
        "_initial",
        "_subflow_starts",
        "_wiring",
        "cad_variables",
        "flow",
        "goto_targets",
        "masker",
        "queues",
        "schedules",
        "settings",
        "variables",
    )

    def __init__(
        self,
        flow: Flow,
        overrides: Mapping[str, Any] | None = None,
        queues: Mapping[str, str] | None = None,
        subflows: Mapping[str, Flow] | None = None,
        goto_targets: Iterable[str] = (),
        schedules: Mapping[str, Schedule] | None = None,
    ) -> None:
        self.flow = flow
        self.schedules: dict[str, Schedule] = {
            key: value for key, value in {**flow.schedules, **(schedules or {})}.items() if value
        }
        """Schedule ids -> schedules (the flow's `schedules`, then the deployment's)."""
        self.goto_targets: frozenset[str] = frozenset(goto_targets)
        """Flows a GoTo may name (the runtime's, by name)."""
        self.queues: dict[str, str] = {
            key: name for key, name in {**flow.queues, **(queues or {})}.items() if name
        }
        """Queue ids the flow uses -> dipflow queue names (the flow's `queues`, then the
        deployment's mapping)."""
        self.settings: FlowSettings = flow.settings
        self.variables: dict[str, Variable] = {v.name: v for v in flow.variables}
        self._activities: dict[str, Mapping[str, ActivityBase]] = {MAIN_FLOW: flow.activities}
        for event_name, event_flow in flow.event_flows.items():
            self._activities[event_name.value] = event_flow.activities
        self._event_flows = frozenset(e.value for e in flow.event_flows)
        self._subflow_starts: dict[str, str] = {}
        all_variables = list(flow.variables)
        for name, subflow in (subflows or {}).items():
            # One variable namespace per call: a subflow's variables join the flow's, and
            # a name both declare would be one variable meaning two things.
            for variable in subflow.variables:
                if variable.name in self.variables:
                    raise VariableOverrideError(
                        f"subflow {name!r} declares variable {variable.name!r}, "
                        f"which the flow (or another subflow) declares too"
                    )
                self.variables[variable.name] = variable
                all_variables.append(variable)
            self._activities[SUBFLOW_PREFIX + name] = subflow.activities
            self._subflow_starts[name] = subflow.start
        self._wiring: dict[tuple[str, str], dict[str, str]] = {
            (flow_name, activity_id): activity.wiring()
            for flow_name, activities in self._activities.items()
            for activity_id, activity in activities.items()
        }
        self.masker = Masker(frozenset(v.name for v in all_variables if v.secure))
        self.cad_variables: tuple[tuple[str, str], ...] = tuple(
            (v.name, v.desktop_label or v.name)
            for v in all_variables
            if v.agent_visible and not v.secure
        )
        initial: dict[str, Any] = {}
        for variable in all_variables:
            initial[variable.name] = (
                None if variable.default is None else convert(variable.default, variable.type)
            )
        for name, value in (overrides or {}).items():
            declared = self.variables.get(name)
            if declared is None:
                # A misspelt setting would otherwise be ignored without a word, and the
                # flow would run with its default (a queue nobody serves, say).
                raise VariableOverrideError(
                    f"unknown flow variable {name!r}{_suggest(name, initial)}"
                )
            # Organisation settings arrive from configuration as text: type them here, so
            # that a bad override fails when the flow is loaded, not in the middle of a call.
            try:
                initial[name] = convert(value, declared.type)
            except ValueError as exc:
                raise VariableOverrideError(f"flow variable {name!r}: {exc}") from exc
        self._initial = initial
        self._has_json_defaults = any(isinstance(v, dict | list) for v in initial.values())

    def initial_variables(self) -> dict[str, Any]:
        if self._has_json_defaults:
            return copy.deepcopy(self._initial)
        return dict(self._initial)

    def activity(self, flow_name: str, activity_id: str) -> ActivityBase | None:
        activities = self._activities.get(flow_name)
        return activities.get(activity_id) if activities is not None else None

    def wiring(self, flow_name: str, activity_id: str) -> dict[str, str]:
        return self._wiring.get((flow_name, activity_id), {})

    def has_event_flow(self, name: str) -> bool:
        return name in self._event_flows

    def subflow_start(self, name: str) -> str | None:
        """The first activity of subflow `name`; None when the flow was given no such one."""
        return self._subflow_starts.get(name)

    def event_flow_start(self, name: str) -> str | None:
        for event_name, event_flow in self.flow.event_flows.items():
            if event_name.value == name:
                return event_flow.start
        return None


def _suggest(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    folded = [k for k in known if k.lower() == name.lower()]
    match = folded or close
    return f" (did you mean {match[0]!r}?)" if match else ""
