"""Ending the helper tasks of a WebSocket (its writer, its reader) without losing a crash.
Layer 6 (web).

A socket's handler cancels its helper tasks when the page goes away. Swallowing what
they raised (`suppress(Exception)`) would hide a bug for ever; `reap` cancels, waits,
and logs a task that failed with its traceback. A task that ended because the page
closed the socket is expected to return quietly (each helper catches
`WebSocketDisconnect` itself), so whatever reaches here is worth a log line.
"""

from __future__ import annotations

import asyncio
import logging


async def reap(task: asyncio.Task[None], *, what: str, log: logging.Logger) -> None:
    """Cancel `task` and wait for it; log its exception, if it failed, as an error."""
    task.cancel()
    # asyncio.wait never raises the task's exception, and lets a cancellation of the
    # caller itself through (a `try: await task` would have to tell the two apart).
    await asyncio.wait({task})
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("%s failed", what, exc_info=error)
