"""Logging set-up: readable lines by default, one JSON object per line with `DIPFLOW_LOG_JSON=1`.

The runtime never logs variable values or request bodies; call ids, activity ids,
event and command types are enough to follow a call. As a second line of defence,
every message passes through `mask_secrets`, which replaces the values of secure
variables registered for live calls (`SecretRegistry`) with `****`. Layer 5 (runtime).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Any, TextIO

MASK = "****"


class SecretRegistry:
    """Values that must never appear in a log line (secure variables of live calls)."""

    def __init__(self) -> None:
        self._values: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    def set(self, owner: str, values: list[str]) -> None:
        with self._lock:
            if values:
                self._values[owner] = frozenset(v for v in values if len(v) >= 3)
            else:
                self._values.pop(owner, None)

    def drop(self, owner: str) -> None:
        with self._lock:
            self._values.pop(owner, None)

    def mask(self, text: str) -> str:
        with self._lock:
            secrets = sorted({v for vs in self._values.values() for v in vs}, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, MASK)
        return text


SECRETS = SecretRegistry()


class _MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = SECRETS.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        call_id = getattr(record, "call_id", None)
        if call_id is not None:
            data["call_id"] = call_id
        if record.exc_info:
            data["exception"] = SECRETS.mask(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False)


class _CurrentStderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is at the time of each record.

    A handler holding the stream it was made with keeps writing to it after an embedding
    program (a test runner, a CLI harness) has swapped and closed it.
    """

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        del value  # the current sys.stderr is always used


def configure_logging(*, level: str = "INFO", as_json: bool = False) -> None:
    handler = _CurrentStderrHandler()
    handler.addFilter(_MaskingFilter())
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("dipflow")
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if level.upper() in logging.getLevelNamesMapping() else "INFO")
    root.propagate = False
