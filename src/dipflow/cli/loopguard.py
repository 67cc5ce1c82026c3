"""Errors that repeat under attack are logged once a minute, with a count, not per attempt.
Layer 7 (command line): the composition root installs these for the whole process.

When the process runs out of file descriptors, asyncio logs `socket.accept() out of
system resource` with a traceback each time a listening socket retries (every listener,
every 0.1 s): 1,030 idle connections grew the log by 55 MB in 20 s. uvicorn logs
"Invalid HTTP request received." for every malformed or oversized request. Both say
something true once; repeated, they bury everything else and fill the disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("dipflow.cli.loopguard")

INTERVAL_S = 60.0
ACCEPT_ERROR = "socket.accept() out of system resource"

ExceptionHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


class _Once:
    """At most one report per `interval_s` per key; counts the ones held back."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def due(self, key: str) -> tuple[bool, int]:
        """(report now?, how many were held back since the last report)."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False, 0
        self._last[key] = now
        return True, self._held.pop(key, 0)


def install_accept_error_handler(
    loop: asyncio.AbstractEventLoop, *, interval_s: float = INTERVAL_S
) -> Callable[[], None]:
    """Report accept() failures for lack of resources once per interval (without the
    traceback, which says nothing new); everything else goes to the previous handler.
    Returns a function that puts the previous handler back."""
    previous = loop.get_exception_handler()
    once = _Once(interval_s)

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == ACCEPT_ERROR:
            report, held = once.due(ACCEPT_ERROR)
            if report:
                log.error(
                    "cannot accept connections: %s (%d more since the last report); "
                    "the process is out of file descriptors or memory",
                    context.get("exception"),
                    held,
                )
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)

    def restore() -> None:
        loop.set_exception_handler(previous)

    return restore


class RepeatFilter(logging.Filter):
    """Lets each distinct message (its format string) through once per interval; the next
    one that passes says how many were held back."""

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        super().__init__()
        self._once = _Once(interval_s)

    def filter(self, record: logging.LogRecord) -> bool:
        report, held = self._once.due(f"{record.name}:{record.msg}")
        if report and held:
            record.msg = f"{record.msg} ({held} more like this in the last minute)"
        return report


def quiet_repeats(logger_name: str, *, interval_s: float = INTERVAL_S) -> Callable[[], None]:
    """Attach a `RepeatFilter` to a logger; returns a function that removes it."""
    logger = logging.getLogger(logger_name)
    repeat = RepeatFilter(interval_s)
    logger.addFilter(repeat)
    return lambda: logger.removeFilter(repeat)
