"""The flow layer's error root and the problems it reports. Layer 1 (flow).

Problems found in a flow (or any YAML file dipflow reads) each have their place.

`Problem` is generic on purpose: file, line, column, a dotted path into the
document and a message, so that the configuration loader and the linter report
the same way as the flow loader. `FlowError` carries every problem found, and
its `str()` is the compiler-style list `file:line:col: [activity] message`,
one per line, which is what the CLI prints: never a traceback.

`FlowError` is the root of every error the flow layer raises (see `dipflow.flow`):
a caller that catches it can always read `problems`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from dipflow.errors import DipflowError


def location(file: str, line: int | None, column: int | None) -> str:
    """`file:line:col`, as far as it is known (a column only with its line)."""
    text = file
    if line is not None:
        text += f":{line}"
        if column is not None:
            text += f":{column}"
    return text


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong, and where."""

    file: str
    message: str
    line: int | None = None
    """1-based; None when the position is unknown."""
    column: int | None = None
    """1-based; None when the position is unknown."""
    activity: str | None = None
    """Id of the activity concerned, if any."""
    path: str = ""
    """Dotted path into the document (`activities.greet.prompt.text`), "" for the whole file."""
    severity: Severity = Severity.ERROR

    def where(self) -> str:
        return location(self.file, self.line, self.column)

    def __str__(self) -> str:
        who = f"[{self.activity}] " if self.activity else ""
        level = "warning: " if self.severity is Severity.WARNING else ""
        return f"{self.where()}: {level}{who}{self.message}"

    def to_dict(self) -> dict[str, str | int | None]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "activity": self.activity,
            "path": self.path,
            "severity": self.severity.value,
            "message": self.message,
        }


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """By file, then position (unknown positions first), keeping discovery order on ties."""
    return sorted(problems, key=lambda p: (p.file, p.line or 0, p.column or 0))


class FlowError(DipflowError):
    """A flow (file, template, JSONPath, Webex export) that cannot be used; `problems` lists
    everything wrong with it, each with its place where known. The flow layer's root."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


def dotted(loc: Sequence[int | str]) -> str:
    """`("activities", "greet", "parse", 0)` -> `activities.greet.parse[0]`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
