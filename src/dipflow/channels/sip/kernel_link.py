"""The media worker's end of the kernel relay helper (`kernel_helper.py`). Layer 4.

`KernelLink.start` starts the helper and waits for its table; `add` is answered (the
pair is relayed once the kernel has its routes), `remove` is not (the pair is already
back in Python), `counters` asks for the routes' counts. Requests go over one socket,
so the helper applies them in the order they were made. A helper that dies fails what
was pending; the worker then takes every pair back (`kernel_bridges.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import sys

from dipflow.channels.sip.kernel_relay import Route
from dipflow.channels.sip.media_wire import Message, encode, read_message, reap
from dipflow.channels.sip.nftables import NftablesError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
CAP_NET_ADMIN = 12
"""linux/capability.h: the capability nftables asks for."""


def may_admin_network() -> bool | None:
    """Whether this process holds CAP_NET_ADMIN (its helper inherits what it holds);
    None when /proc cannot tell."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except (OSError, ValueError):
        pass
    return None


def _plain(routes: tuple[Route, ...]) -> list[tuple[tuple[str, int], ...]]:
    return [(r.peer, r.local, r.out_local, r.out_peer) for r in routes]


class KernelLink:
    """A running helper: its process, its socket, what it still owes us."""

    def __init__(
        self, process: asyncio.subprocess.Process, reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter, table: str,
    ) -> None:  # fmt: skip
        self.process = process
        self.reader = reader
        self.writer = writer
        self.table = table
        self.alive = True
        self._tokens = itertools.count(1)
        self._added: dict[int, asyncio.Future[str | None]] = {}
        self._counted: asyncio.Future[dict[str, int]] | None = None
        self._task = asyncio.get_running_loop().create_task(self._read(), name="kernel-link")

    @classmethod
    async def start(cls) -> KernelLink:
        """Start the helper; `NftablesError` with its reason if it cannot keep a table
        (without the capability, at once: no helper started only to be refused)."""
        if may_admin_network() is False:
            raise NftablesError("nftables: this process lacks CAP_NET_ADMIN")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dipflow.channels.sip.kernel_helper",
            "--fd", str(theirs.fileno()), pass_fds=(theirs.fileno(),),
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        try:
            first = await asyncio.wait_for(read_message(reader), START_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            first = ("failed", f"the helper did not start ({exc!r})")
        if first[0] != "ready":
            writer.close()
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise NftablesError(str(first[1]))
        return cls(process, reader, writer, str(first[1]))

    def add(self, routes: tuple[Route, ...]) -> asyncio.Future[str | None]:
        """Relay `routes`; the future's result is None once they are in the kernel, or
        the reason they are not."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        if not self.alive:
            future.set_result("the kernel relay helper is gone")
            return future
        token = next(self._tokens)
        self._added[token] = future
        self._send(("add", token, _plain(routes)))
        return future

    def remove(self, routes: tuple[Route, ...]) -> None:
        if self.alive:
            self._send(("remove", _plain(routes)))

    async def counters(self) -> dict[str, int]:
        """Packets relayed on each route so far, by `Route.key`."""
        if not self.alive:
            return {}
        if self._counted is None or self._counted.done():
            self._counted = asyncio.get_running_loop().create_future()
            self._send(("count",))
        return await self._counted

    def _send(self, message: Message) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(message))

    async def _read(self) -> None:
        try:
            while True:
                message = await read_message(self.reader)
                if message[0] == "added":
                    future = self._added.pop(int(message[1]), None)
                    if future is not None and not future.done():
                        future.set_result(None if message[2] is None else str(message[2]))
                elif message[0] == "counted":
                    counted = self._counted
                    if counted is not None and not counted.done() and isinstance(message[1], dict):
                        counted.set_result(message[1])  # marshal: str -> int, as sent
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            if self.alive:
                log.warning("kernel relay helper gone: %r", exc)
        finally:
            self.alive = False
            for future in self._added.values():
                if not future.done():
                    future.set_result("the kernel relay helper is gone")
            self._added.clear()
            if self._counted is not None and not self._counted.done():
                self._counted.set_result({})

    async def close(self) -> None:
        """Stop the helper: it applies what it was sent, deletes its table and exits."""
        self.alive = False
        self.writer.close()
        await reap(self.process)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
