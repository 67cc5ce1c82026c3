"""Media streaming: the caller's audio, forked to a WebSocket endpoint. Layer 3 (media).

As Webex's Start Media Stream forks the call's audio to an AI service, `MediaStreamer`
sends it to any WebSocket server (`ws://` or `wss://`), in this documented shape
(docs/media.md):

1. one text message, JSON: `{"event": "start", "call_id", "stream_id", "ani", "dnis",
   "encoding": "audio/x-mulaw", "sample_rate": 8000, "channels": 1}`;
2. binary messages: the audio, G.711 u-law, as the channel received it (20 ms frames);
3. one text message `{"event": "stop", "call_id", "stream_id", "frames", "dropped"}`
   when the stream ends (the call ended), then the close.

The audio path never waits for the network: frames go into a bounded queue (the newest
`max_frames`, ~10 s), a slow or unreachable endpoint loses audio (counted as `dropped`),
never the call's media. Connection failures are logged, not raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Any, Final

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

log = logging.getLogger(__name__)

MAX_FRAMES: Final = 500
"""Queued frames kept while the endpoint is slow: 10 s of 20 ms frames."""


class MediaStreamer:
    def __init__(
        self,
        url: str,
        *,
        start: dict[str, Any],
        max_frames: int = MAX_FRAMES,
        open_timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self._start = {"event": "start", "encoding": "audio/x-mulaw", "sample_rate": 8000,
                       "channels": 1, **start}  # fmt: skip
        self._frames: deque[bytes] = deque(maxlen=max_frames)
        self._ready = asyncio.Event()
        self._stopping = False
        self._open_timeout_s = open_timeout_s
        self.sent = 0
        self.dropped = 0
        self.error: str | None = None
        self._task: asyncio.Task[None] | None = None

    def begin(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"media-stream-{self.url}")

    def feed(self, frame: bytes) -> None:
        """Called from the media path for each frame: never blocks, never raises."""
        if self._stopping:
            return
        if len(self._frames) == self._frames.maxlen:
            self.dropped += 1
        self._frames.append(frame)
        self._ready.set()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Send what is queued and the `stop` message, then close (at most `timeout_s`)."""
        self._stopping = True
        self._ready.set()
        task = self._task
        if task is None:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        try:
            async with connect(self.url, open_timeout=self._open_timeout_s) as socket:
                await socket.send(json.dumps(self._start))
                while True:
                    await self._ready.wait()
                    self._ready.clear()
                    while self._frames:
                        await socket.send(self._frames.popleft())
                        self.sent += 1
                    if self._stopping:
                        stop = {"event": "stop", "call_id": self._start.get("call_id"),
                                "stream_id": self._start.get("stream_id"), "frames": self.sent,
                                "dropped": self.dropped}  # fmt: skip
                        await socket.send(json.dumps(stop))
                        return
        except (OSError, TimeoutError, WebSocketException) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("media stream to %s failed: %s", self.url, self.error)
