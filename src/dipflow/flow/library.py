"""Flows that call other flows: which subflows a flow needs from a library. Layer 1 (flow).

A deployment's flow library maps names (a flow's name, or a Webex subflow id) to flows;
a flow's Subflow activities name them. The engine is given the subflows a flow needs,
transitively, and nothing else (their variables join the call's).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from dipflow.flow.model import ActivityBase, Flow, GoToActivity, SubflowActivity


def _activities(flow: Flow) -> Iterator[ActivityBase]:
    yield from flow.activities.values()
    for event_flow in flow.event_flows.values():
        yield from event_flow.activities.values()


def subflows_needed(flow: Flow, library: Mapping[str, Flow]) -> tuple[dict[str, Flow], set[str]]:
    """(the subflows `flow` calls, directly or through others, by name; the names it
    calls that `library` does not have)."""
    needed: dict[str, Flow] = {}
    missing: set[str] = set()
    pending = [flow]
    while pending:
        for activity in _activities(pending.pop()):
            if not isinstance(activity, SubflowActivity) or activity.flow in needed:
                continue
            found = library.get(activity.flow)
            if found is None:
                missing.add(activity.flow)
            else:
                needed[activity.flow] = found
                pending.append(found)
    return needed, missing


def goto_names(flow: Flow) -> set[str]:
    """The flows `flow`'s GoTo activities name without a template."""
    return {a.flow for a in _activities(flow) if isinstance(a, GoToActivity) and "{" not in a.flow}
