"""Flows shipped with dipflow (YAML files beside this module). Layer 1 (flow)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BUNDLED_DIR = Path(__file__).parent


@dataclass(frozen=True, slots=True, kw_only=True)
class BundledFlow:
    name: str
    path: Path


def list_bundled() -> list[BundledFlow]:
    """Every bundled flow, by name (the file name without `.yaml`)."""
    return [BundledFlow(name=p.stem, path=p) for p in sorted(BUNDLED_DIR.glob("*.yaml"))]


def bundled_path(name: str) -> Path:
    """The file of the bundled flow `name`; `LookupError` when there is none."""
    for flow in list_bundled():
        if flow.name == name:
            return flow.path
    raise LookupError(f"no bundled flow named {name!r}")
