"""Fixtures: the Dataverse emulator over real HTTP, and a runtime on the demo configuration."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from dipflow.emulator.testing import RunningEmulator, running_emulator
from dipflow.runtime.demo import demo_config, demo_environ
from dipflow.runtime.runtime import Runtime


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator(seed="demo", require_auth=True) as crm:
        yield crm


async def make_runtime(emulator: RunningEmulator, **options: Any) -> Runtime:
    config = demo_config(emulator=emulator, tts="silent", web_port=0, **options)
    runtime = await Runtime.create(config, environ=demo_environ(emulator))
    await runtime.start()
    return runtime


@pytest.fixture
async def runtime(emulator: RunningEmulator) -> AsyncIterator[Runtime]:
    rt = await make_runtime(emulator)
    try:
        yield rt
    finally:
        await rt.stop()
