"""Errors of the Webex importer: every problem names where it is and what is wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportProblem:
    """One thing the importer could not carry over."""

    file: str
    message: str
    activity_name: str | None = None
    activity_id: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        if self.activity_name or self.activity_id:
            who = self.activity_name or "?"
            if self.activity_id:
                who += f" (id {self.activity_id})"
            return f"{where}: [{who}] {self.message}"
        return f"{where}: {self.message}"


class WebexImportError(Exception):
    """The export cannot be imported; `problems` says why, each with its place."""

    def __init__(self, problems: list[ImportProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
