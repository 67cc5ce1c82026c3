"""What the linter reports. Layer 1 (flow)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from dipflow.flow.errors import location


class Severity(IntEnum):
    """Ordered: a threshold keeps everything at or above it."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    rule: str
    severity: Severity
    flow: str
    """`main` or the event flow's name."""
    activity: str | None
    message: str
    hint: str
    field: str = ""
    """The activity's field concerned (`prompt.text`, `query.$filter`), "" for the activity."""
    name: str | None = None
    """The name the finding is about, when it is one (to point at it in the field's text)."""
    file: str | None = None
    line: int | None = None
    """1-based, once located in the flow file (`dipflow.flow.lint.located`)."""
    column: int | None = None

    def where(self) -> str:
        return location(self.file or "", self.line, self.column)

    def __str__(self) -> str:
        """One line, compiler style: `file:line:col: warning: [activity] message (rule); hint`."""
        where = self.where()
        who = self.activity or "-"
        if self.flow != "main":
            who = f"{self.flow}/{who}"
        lead = f"{where}: " if where else ""
        return (
            f"{lead}{self.severity.label}: [{who}] {self.message} ({self.rule}); fix: {self.hint}"
        )

    def as_dict(self) -> dict[str, str | int | None]:
        return {
            "rule": self.rule,
            "severity": self.severity.label,
            "flow": self.flow,
            "activity": self.activity,
            "field": self.field,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
        }
