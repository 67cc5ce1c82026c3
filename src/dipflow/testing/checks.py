"""A test script that names nothing is refused, with a "did you mean". Layer: test kit.

An HTTP reply scripted for an activity the flow does not have is never used: the
request it meant to answer gets the simulator's "no reply scripted" failure instead,
and a test of the error path passes for the wrong reason. A `when` naming no activity
that plays a prompt never fires. Both are mistakes in the test, found before it runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from dipflow.errors import DipflowError
from dipflow.flow.advice import did_you_mean
from dipflow.flow.checks import article
from dipflow.flow.model import ActivityBase, Flow
from dipflow.testing.scripts import NEXT_MENU, CallerAction, HttpScripts

REQUESTING_KINDS = frozenset({"http_request", "http_start"})
"""Kinds whose requests an `http=` script answers (an `http_join` waits for its start's)."""


class ScriptError(DipflowError, ValueError):
    """A test script (HTTP replies, caller actions) that does not fit the flow."""


def _activities(flow: Flow) -> Iterator[tuple[str, ActivityBase]]:
    yield from flow.activities.items()
    for event_flow in flow.event_flows.values():
        yield from event_flow.activities.items()


def _plays_prompts(activity: ActivityBase) -> bool:
    return any(name.endswith("prompt") for name in type(activity).model_fields)


def check_scripts(
    flow: Flow,
    *,
    http: HttpScripts,
    caller: Sequence[CallerAction],
    library: Sequence[Flow] = (),
) -> None:
    """Raise `ScriptError` for an HTTP reply or a `when` that names nothing in `flow` (or
    in the flows of its `library`, which its subflows and GoTo reach)."""
    activities = dict(_activities(flow))
    for other in library:
        activities.update(_activities(other))
    requesting = sorted(ident for ident, a in activities.items() if a.kind in REQUESTING_KINDS)
    prompting = sorted(ident for ident, a in activities.items() if _plays_prompts(a))
    if isinstance(http, Mapping):
        for name in http:
            _check_name(
                name,
                activities,
                requesting,
                what=f"http={{{name!r}: ...}}",
                lacks="makes no HTTP request",
                does="make HTTP requests",
            )
    for action in caller:
        if action.when is not None and action.when != NEXT_MENU:
            _check_name(
                action.when,
                activities,
                prompting,
                what=f"{action.does.value}(when={action.when!r})",
                lacks="plays no prompt",
                does="play a prompt",
            )


def _check_name(
    name: str,
    activities: Mapping[str, ActivityBase],
    fitting: list[str],
    *,
    what: str,
    lacks: str,
    does: str,
) -> None:
    if name in fitting:
        return
    listed = ", ".join(fitting) or "none"
    if name in activities:
        kind = activities[name].kind
        raise ScriptError(
            f"{what}: `{name}` is {article(kind)} {kind}, which {lacks};"
            f" the activities that {does}: {listed}"
        )
    raise ScriptError(
        f"{what}: the flow has no activity `{name}`{did_you_mean(name, fitting)};"
        f" the activities that {does}: {listed}"
    )
