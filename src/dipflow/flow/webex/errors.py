"""Errors of the Webex importer, each naming where it is and what is wrong. Layer 1 (flow).

`WebexImportError` is a `FlowError` (the flow layer's root) and each `ImportProblem`
is a `Problem`, so a caller that reports flow errors reports imports the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dipflow.flow.errors import FlowError, Problem


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportProblem(Problem):
    """One thing the importer could not carry over."""

    activity_name: str | None = None
    activity_id: str | None = None

    def __str__(self) -> str:
        if self.activity_name or self.activity_id:
            who = self.activity_name or "?"
            if self.activity_id:
                who += f" (id {self.activity_id})"
            return f"{self.where()}: [{who}] {self.message}"
        return f"{self.where()}: {self.message}"


class WebexImportError(FlowError):
    """The export cannot be imported; `problems` says why, each with its place."""

    def __init__(self, problems: Sequence[ImportProblem]) -> None:
        super().__init__(problems)
