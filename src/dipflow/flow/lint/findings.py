"""What the linter reports. Layer 1 (flow)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


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

    def as_dict(self) -> dict[str, str | None]:
        return {
            "rule": self.rule,
            "severity": self.severity.label,
            "flow": self.flow,
            "activity": self.activity,
            "message": self.message,
            "hint": self.hint,
        }
