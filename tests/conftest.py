"""Fixtures shared by several areas: Cisco's Webex template export, which the Webex
importer reads (tests/webex), the linter and the diagrams check (tests/flow) and the
flows page shows (tests/web)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

TEMPLATE = Path(__file__).parent / "webex" / "fixtures" / "MSDynamics_HTTP_Template.json"
# Cisco's published export, copied from ../shared/webex: CI needs nothing beside the repo.


@pytest.fixture
def template_path() -> Path:
    assert TEMPLATE.is_file(), f"the Webex template must be at {TEMPLATE}"
    return TEMPLATE


@pytest.fixture
def template_export(template_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(template_path.read_text(encoding="utf-8"))
    return copy.deepcopy(data)
