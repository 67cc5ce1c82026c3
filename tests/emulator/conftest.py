"""Fixtures: one emulator on a loopback port per test module, and a token-bearing client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from dipflow.emulator.testing import RunningEmulator, running_emulator


@pytest.fixture(scope="module")
def crm() -> Iterator[RunningEmulator]:
    with running_emulator() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def api(crm: RunningEmulator) -> Iterator[httpx.Client]:
    """An httpx client on the Web API root, authorised with a real token."""
    token = crm.token()
    with httpx.Client(
        base_url=crm.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


@pytest.fixture(autouse=True)
def _no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "crm" in request.fixturenames:
        request.getfixturevalue("crm").clear_faults()
