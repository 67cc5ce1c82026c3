"""MediaStreamer: the documented framing to a real WebSocket server; an endpoint that is
not there costs the call nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from dipflow.emulator.testing import free_port
from dipflow.media.stream import MediaStreamer


async def test_frames_go_out_in_order_between_start_and_stop() -> None:
    received: list[Any] = []

    async def handle(connection: ServerConnection) -> None:
        async for message in connection:
            received.append(message if isinstance(message, bytes) else json.loads(message))

    port = free_port()
    async with serve(handle, "127.0.0.1", port):
        streamer = MediaStreamer(f"ws://127.0.0.1:{port}/", start={"call_id": "c1"})
        streamer.begin()
        for n in range(5):
            streamer.feed(bytes([n]) * 160)
        await asyncio.sleep(0.1)
        streamer.feed(b"\x05" * 160)
        await streamer.stop()
        await asyncio.sleep(0.1)
    assert received[0] == {"event": "start", "encoding": "audio/x-mulaw", "sample_rate": 8000,
                           "channels": 1, "call_id": "c1"}  # fmt: skip
    assert received[1:7] == [bytes([n]) * 160 for n in range(6)]
    assert received[7] == {"event": "stop", "call_id": "c1", "stream_id": None, "frames": 6,
                           "dropped": 0}  # fmt: skip


async def test_an_endpoint_that_is_not_there_is_logged_not_raised() -> None:
    streamer = MediaStreamer(f"ws://127.0.0.1:{free_port()}/", start={}, max_frames=3)
    streamer.begin()
    for _ in range(5):
        streamer.feed(b"\xff" * 160)  # the audio path never blocks, never raises
    await streamer.stop(timeout_s=2)
    assert streamer.error is not None and streamer.dropped == 2 and streamer.sent == 0
