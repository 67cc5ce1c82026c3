"""Fixtures for engine tests: build small flows from dicts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dipflow.flow.model import Flow

MakeFlow = Callable[..., Flow]


def _make_flow(
    activities: dict[str, Any],
    *,
    variables: list[dict[str, Any]] | None = None,
    event_flows: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    first: str | None = None,
) -> Flow:
    """A flow whose start activity `Start` leads to `first` (default: the first given)."""
    body = dict(activities)
    target = first or next(iter(body))
    body = {"Start": {"kind": "start", "next": target}, **body}
    return Flow.model_validate(
        {
            "name": "test",
            "start": "Start",
            "variables": variables or [],
            "activities": body,
            "event_flows": event_flows or {},
            "settings": settings or {},
        }
    )


@pytest.fixture
def make_flow() -> MakeFlow:
    return _make_flow
