"""How the media worker and its peers talk: framed `marshal` tuples. Layer 4 (channels).

The control plane and the media worker (`media_link.py`, `media_worker.py`), and the
media worker and its kernel relay helper (`kernel_helper.py`), exchange small tuples
whose first item names them, over a Unix stream socket: a 4-byte length, then the tuple
in `marshal` (plain data only: it cannot carry code, and both ends are this package).
A child ends when its socket does (`reap` waits for it).
"""

from __future__ import annotations

import asyncio
import marshal
import struct
from typing import Any, BinaryIO

_LENGTH = struct.Struct("!I")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""A prompt of ~2 hours of G.711; anything larger is a broken peer, not audio."""

Message = tuple[Any, ...]


def encode(message: Message) -> bytes:
    """One framed message: length, then `marshal` (plain data only: it cannot carry code)."""
    body = marshal.dumps(message)
    return _LENGTH.pack(len(body)) + body


class Outbox:
    """Messages to the other side, written together once per loop turn: each write wakes
    the other process, and on a shared core every wake-up is a context switch (a pacer
    tick that ends twenty prompts would otherwise write twenty times)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._loop = asyncio.get_running_loop()
        self._pending: list[bytes] = []

    def send(self, message: Message) -> None:
        if self.writer.is_closing():
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(encode(message))

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending and not self.writer.is_closing():
            self.writer.write(b"".join(pending))


async def reap(process: asyncio.subprocess.Process, within_s: float = 5.0) -> None:
    """Wait for a child whose socket we closed (it ends at its socket's end), killing it
    after `within_s`."""
    try:
        await asyncio.wait_for(process.wait(), within_s)
    except TimeoutError:
        process.kill()
        await process.wait()


def _length(header: bytes) -> int:
    (length,) = _LENGTH.unpack(header)
    if length > MAX_MESSAGE_BYTES:
        raise ValueError(f"media message of {length} bytes")
    return int(length)


def _decode(body: bytes) -> Message:
    message = marshal.loads(body)  # noqa: S302 - our own child or parent
    if not isinstance(message, tuple) or not message:
        raise ValueError("malformed media message")
    return message


async def read_message(reader: asyncio.StreamReader) -> Message:
    """The next message; `asyncio.IncompleteReadError` when the other side is gone."""
    length = _length(await reader.readexactly(_LENGTH.size))
    return _decode(await reader.readexactly(length))


def read_message_blocking(stream: BinaryIO) -> Message | None:
    """`read_message` from a blocking stream (the kernel relay helper's
    `socket.makefile("rb")`); None at its end."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    length = _length(header)
    body = stream.read(length)
    return _decode(body) if len(body) == length else None
