"""`reap`: a socket's helper task that crashed is logged with its traceback, never
swallowed; one that ended normally, or is cancelled as the page leaves, logs nothing."""

from __future__ import annotations

import asyncio
import logging

import pytest

from dipflow.web.tasks import reap

log = logging.getLogger("dipflow.web.test")


async def test_a_crashed_helper_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise KeyError("a bug in the writer")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="dipflow.web.test"):
        await reap(task, what="desktop socket writer", log=log)
    (record,) = caplog.records
    assert record.getMessage() == "desktop socket writer failed"
    assert record.exc_info is not None and record.exc_info[0] is KeyError


async def test_a_waiting_or_finished_helper_is_ended_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    waiting = asyncio.create_task(asyncio.Event().wait())
    finished = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.DEBUG, logger="dipflow.web.test"):
        await reap(waiting, what="reader", log=log)
        await reap(finished, what="writer", log=log)
    assert waiting.cancelled() and finished.done() and not finished.cancelled()
    assert caplog.records == []


async def test_reaping_does_not_swallow_the_callers_own_cancellation() -> None:
    release = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await release.wait()  # its clean-up takes a while
            raise

    helper = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    reaping = asyncio.create_task(reap(helper, what="helper", log=log))
    await asyncio.sleep(0.01)  # reap now waits for the helper's clean-up
    reaping.cancel()  # the server stops the handler meanwhile
    with pytest.raises(asyncio.CancelledError):
        await reaping
    release.set()
    await asyncio.wait({helper})
    assert helper.cancelled()
