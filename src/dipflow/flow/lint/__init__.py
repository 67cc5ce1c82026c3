"""`dipflow flow lint`: what makes a valid flow fail callers. Layer 1 (flow)."""

from __future__ import annotations

from dipflow.flow.lint.findings import Finding, Severity
from dipflow.flow.lint.rules import RULES
from dipflow.flow.model import Flow

__all__ = ["Finding", "Severity", "lint_flow"]


def lint_flow(flow: Flow, *, minimum: Severity = Severity.INFO) -> list[Finding]:
    """Every finding at or above `minimum`, most severe first, then in rule order."""
    findings = [f for rule in RULES for f in rule(flow) if f.severity >= minimum]
    return sorted(findings, key=lambda f: -f.severity)
