"""Fixtures of the connector tests: a fresh fake CRM per test (see fake_crm.py)."""

from __future__ import annotations

import pytest

from tests.connectors.fake_crm import FakeCrm


@pytest.fixture
def crm() -> FakeCrm:
    return FakeCrm()
