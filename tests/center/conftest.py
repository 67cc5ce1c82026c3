"""Fixtures for the contact-center tests: both stores, a real redis-server, a center."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis

from dipflow.center import CenterStore, ContactCenter, MemoryCenterStore
from dipflow.center.redis_store import RedisCenterStore
from dipflow.emulator.testing import free_port
from tests.center.center_helpers import FakeClock, OfferLedger, Recorder, sample_config

REDIS_SERVER = Path("/usr/bin/redis-server")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free loopback port. Missing binary: the tests FAIL."""
    if not REDIS_SERVER.exists():
        pytest.fail(f"{REDIS_SERVER} is missing: install the Debian package redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [
            str(REDIS_SERVER),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=os.environ.get("TMPDIR", "/tmp"),
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on port {port}")
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def redis_prefix() -> str:
    """Each test gets its own key space on the shared server."""
    return f"test:{{{uuid.uuid4().hex}}}:"


StoreFactory = Callable[[], CenterStore]


# The Redis store drives a real redis-server: slow; the memory store keeps the contract fast.
@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.slow)])
async def make_store(
    request: pytest.FixtureRequest, redis_prefix: str
) -> AsyncIterator[StoreFactory]:
    """A factory of stores that share state (like several nodes), for each store kind."""
    created: list[CenterStore] = []
    kind = request.param
    url = request.getfixturevalue("redis_url") if kind == "redis" else ""
    shared = MemoryCenterStore()

    def factory() -> CenterStore:
        store: CenterStore = (
            shared if kind == "memory" else RedisCenterStore.from_url(url, prefix=redis_prefix)
        )
        created.append(store)
        return store

    yield factory
    for store in created:
        await store.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def center(make_store: StoreFactory, clock: FakeClock) -> ContactCenter:
    """A center on a fake clock (timers fire on `await center.tick()`), not started."""
    center = ContactCenter(sample_config(), make_store(), clock=clock)
    center.subscribe(OfferLedger())  # every contract test also checks exactly-once
    return center


@pytest.fixture
def recorder(center: ContactCenter) -> Recorder:
    rec = Recorder()
    center.subscribe(rec)
    return rec
