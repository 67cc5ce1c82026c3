"""How the media worker and its peers talk: framed `marshal` tuples. Layer 4 (channels).

The control plane and the media worker (`media_link.py`, `media_worker.py`), and the
media worker and its kernel relay helper (`kernel_helper.py`), exchange small tuples
whose first item names them, over a Unix stream socket: a 4-byte length, then the tuple
in `marshal` (plain data only: it cannot carry code, and both ends are this package).
"""

from __future__ import annotations

import asyncio
import marshal
import socket
import struct
from typing import Any

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


async def read_message(reader: asyncio.StreamReader) -> Message:
    """The next message; `asyncio.IncompleteReadError` when the other side is gone."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if length > MAX_MESSAGE_BYTES:
        raise ValueError(f"media message of {length} bytes")
    message = marshal.loads(await reader.readexactly(length))  # noqa: S302 - our own child/parent
    if not isinstance(message, tuple) or not message:
        raise ValueError("malformed media message")
    return message


def read_message_blocking(sock: socket.socket) -> Message | None:
    """`read_message` for a blocking socket (the kernel relay helper); None at its end."""
    header = _read_exactly(sock, _LENGTH.size)
    if header is None:
        return None
    (length,) = _LENGTH.unpack(header)
    if length > MAX_MESSAGE_BYTES:
        raise ValueError(f"media message of {length} bytes")
    body = _read_exactly(sock, length)
    if body is None:
        return None
    message = marshal.loads(body)  # noqa: S302 - our own parent
    if not isinstance(message, tuple) or not message:
        raise ValueError("malformed media message")
    return message


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)
