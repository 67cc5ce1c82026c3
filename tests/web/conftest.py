"""Fixtures of the web tests: the app on a stand-in runtime behind a TestClient
(see web_helpers.py); the browser tests bring their own server (see e2e_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dipflow.runtime.config import DipflowConfig
from dipflow.runtime.websecurity import LoginThrottleSettings
from dipflow.web.app import create_app
from dipflow.web.throttle import LoginThrottle
from tests.web.web_helpers import FakeRuntime, TestClient, fake_config


@pytest.fixture(scope="session")
def web_config() -> DipflowConfig:
    return fake_config()


@pytest.fixture
def fake_runtime(web_config: DipflowConfig) -> FakeRuntime:
    return FakeRuntime(web_config)


@pytest.fixture
def client(fake_runtime: FakeRuntime) -> Iterator[TestClient]:
    app = create_app(
        fake_runtime,
        throttle=LoginThrottle(LoginThrottleSettings(free_attempts_per_user_and_source=3)),
    )
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client
