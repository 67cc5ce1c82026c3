"""The SIP channel's sockets: a UDP endpoint and a TCP listener on one port. Layer 4 (channels).

What arrives (a datagram, or one message framed out of a TCP stream, RFC 3261 §18.3) goes
to a `Receiver`; what the user agent sends goes out on UDP, or on a TCP connection: the one
to its destination if open (the connection a request came in on), else one to its
fallback address (`routing.py`), opened when there is none (§18.2.2: a proxy closes idle
connections; our BYE must still reach the caller). What cannot be sent is logged. Nothing
here reads SIP beyond the framing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from dipflow.channels.sip.events import Address, Outgoing
from dipflow.channels.sip.message import SipParseError, StreamFramer

log = logging.getLogger(__name__)

Receiver = Callable[[bytes, Address, str], None]
"""`(message bytes, source address, "udp" | "tcp" | "tls")`."""

CONNECT_TIMEOUT_S = 5.0
"""How long opening a TCP connection may take before its messages are given up (logged)."""

BIND_ATTEMPTS = 20
"""Port 0: UDP picks a free port and TCP must get the same number, which another process
may hold; try this many ports before giving up."""


class _UdpEndpoint(asyncio.DatagramProtocol):
    def __init__(self, receive: Receiver) -> None:
        self.receive = receive

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.receive(data, (str(addr[0]), int(addr[1])), "udp")

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP UDP socket: %s", exc)


class TcpConnection(asyncio.Protocol):
    """One stream connection (TCP, or TLS from tls.py: `label` is what its messages
    report as their transport)."""

    def __init__(self, owner: SipTransports, label: str = "tcp") -> None:
        self.owner = owner
        self.label = label
        self.framer = StreamFramer(owner.max_message_bytes)
        self.transport: asyncio.Transport | None = None
        self.peer: Address = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1]))
        self.owner.connections[self.peer] = self

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.framer.feed(data)
        except SipParseError:
            if self.transport is not None:
                self.transport.close()  # unframeable stream: nothing sensible to answer
            return
        for message in messages:
            self.owner.receive(message, self.peer, self.label)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.connections.pop(self.peer, None)


class SipTransports:
    """The listening sockets and the open TCP connections (by peer address)."""

    def __init__(self, receive: Receiver, *, max_message_bytes: int) -> None:
        self.receive = receive
        self.max_message_bytes = max_message_bytes
        self.connections: dict[Address, TcpConnection] = {}
        self._connecting: dict[Address, list[bytes]] = {}
        """Connections being opened, with what waits to be written on each."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self.connect: Callable[[Outgoing], None] | None = None
        """Opens a TLS connection for a message to a peer we have none with (tls.py)."""

    async def open(self, host: str, port: int, transports: Sequence[str]) -> int:
        """Listen on `host:port` (port 0: any free port) for `transports`; the bound port."""
        attempts = 0
        while True:
            attempts += 1
            try:
                return await self._bind(host, port, transports)
            except OSError:
                if self._udp is not None:
                    self._udp.close()
                    self._udp = None
                if port != 0 or attempts >= BIND_ATTEMPTS:
                    raise

    async def _bind(self, host: str, port: int, transports: Sequence[str]) -> int:
        loop = asyncio.get_running_loop()
        if "udp" in transports:
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpEndpoint(self.receive), local_addr=(host, port)
            )
            self._udp = udp
            port = int(udp.get_extra_info("sockname")[1])
        if "tcp" in transports:
            self._tcp = await loop.create_server(
                lambda: TcpConnection(self), host, port, reuse_address=True
            )
            port = int(self._tcp.sockets[0].getsockname()[1])
        return port

    def send(self, out: Outgoing) -> None:
        if out.transport == "tls":
            connection = self.connections.get(out.destination)
            if connection is not None and connection.transport is not None:
                connection.transport.write(out.data)
            elif self.connect is not None:
                self.connect(out)  # tls.py opens it (with the peer's certificate checks)
            return
        if out.transport != "tcp":
            if self._udp is not None:
                self._udp.sendto(out.data, out.destination)
            return
        for address in (out.destination, out.fallback):
            connection = self.connections.get(address) if address is not None else None
            if connection is not None and connection.transport is not None:
                connection.transport.write(out.data)
                return
        self._connect_and_send(out.fallback or out.destination, out.data)

    def _connect_and_send(self, address: Address, data: bytes) -> None:
        waiting = self._connecting.get(address)
        if waiting is not None:
            waiting.append(data)
            return
        self._connecting[address] = [data]
        task = asyncio.get_running_loop().create_task(self._connect(address))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, address: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(lambda: TcpConnection(self), *address),
                CONNECT_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as exc:
            lost = self._connecting.pop(address, [])
            log.warning("SIP over TCP: cannot connect to %s:%s (%s): %d message(s) not sent",
                        *address, exc or "timeout", len(lost))  # fmt: skip
            return
        waiting = self._connecting.pop(address, [])
        if protocol.transport is not None:
            for data in waiting:
                protocol.transport.write(data)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            for connection in list(self.connections.values()):
                if connection.transport is not None:
                    connection.transport.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._tcp.wait_closed(), 2)
