"""What activities and event handlers return to the interpreter loop. Layer 2 (engine)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from dipflow.flow.model import DIGITS


@dataclass(frozen=True, slots=True, kw_only=True)
class Done:
    """An activity finished and takes `output`."""

    output: str
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Stopped:
    """The activity already ended its cursor (disconnect); nothing to follow."""

    __slots__ = ()


STOPPED: Final = Stopped()

Result = Done | Stopped | None
"""What an activity or an event handler returns: `None` while it waits."""

# Outputs that mean "something went wrong": unwired, they fall to `error`, then to the
# global error handler. Unwired ordinary outputs simply end the flow.
FAILURE_OUTPUTS: Final = frozenset({"error", "timeout", "invalid", "no_input", *DIGITS})


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
