"""The SIP channel's sockets: a UDP endpoint and a TCP listener on one port. Layer 4 (channels).

What arrives (a datagram, or one message framed out of a TCP stream, RFC 3261 §18.3) goes
to a `Receiver`; what the user agent sends goes out on UDP, or on a TCP connection: the one
to its destination if open (the connection a request came in on), else one to its
fallback address (`routing.py`), opened when there is none (§18.2.2: a proxy closes idle
connections; our BYE must still reach the caller). What cannot be sent is logged. Nothing
here reads SIP beyond the framing.

TCP connections cost a file descriptor each, and the node needs descriptors for every
call's RTP socket: 1,030 idle connections used to exhaust them and stop the node (issue
11). So the listener accepts on its own (`_accept_ready`, not `loop.create_server`) and
holds TCP to `TcpLimits`:

* at most `max_connections` in total (never more than a quarter of the process's
  descriptor limit) and `max_per_source` per address (configured peers exempt); a
  connection over a limit is accepted and closed at once, which frees the kernel's
  backlog; when the total is reached, the oldest connection that has not yet sent a
  whole message is closed to make room for the newcomer;
* a connection must deliver its first complete message within `first_message_s`, any
  message must complete within `message_s` of its first byte (a half-sent message, as
  an endless header, is cut off), and a connection silent for `idle_s` is closed, unless
  it carries a live registration (an agent's phone we must be able to ring);
* an `accept` that fails for lack of descriptors or memory is logged once (then at most
  once a minute, with a count; not per attempt), and accepting pauses `ACCEPT_RETRY_S`
  instead of spinning.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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

ACCEPT_BATCH = 64
"""Connections accepted per wake-up of the listener (the loop is not held longer)."""
ACCEPT_LOG_S = 60.0
"""An accept failure is logged at most this often, with the count since the last line."""
ACCEPT_RETRY_S = 0.5
"""Pause after an accept failed for lack of resources (the pending connection stays in
the backlog, so retrying at once would spin)."""
SWEEP_S = 1.0
"""How often connection deadlines are checked."""
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpLimits:
    max_connections: int = 1024
    max_per_source: int = 32
    first_message_s: float = 10.0
    message_s: float = 10.0
    idle_s: float = 600.0
    backlog: int = 128

    def effective_max(self) -> int:
        """`max_connections`, but never more than a quarter of the descriptor limit: the
        rest is for RTP sockets, the web server, Redis and the CRM's connections."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(8, min(self.max_connections, soft // 4))


def _never(_: object) -> bool:
    return False


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

    def __init__(self, owner: SipTransports, label: str = "tcp", *, inbound: bool = False) -> None:
        """`inbound`: accepted by our TCP listener (held to the timeouts); a connection we
        opened ourselves, or a TLS one, is not."""
        self.owner = owner
        self.label = label
        self.inbound = inbound
        self.framer = StreamFramer(owner.max_message_bytes)
        self.transport: asyncio.Transport | None = None
        self.peer: Address = ("", 0)
        now = owner.now()
        self.opened_at = now
        self.last_data_at = now
        self.message_started_at: float | None = None
        self.proven = False
        """It has sent at least one complete message."""
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1]))
        self.owner.connections[self.peer] = self

    def data_received(self, data: bytes) -> None:
        now = self.owner.now()
        self.last_data_at = now
        try:
            messages = self.framer.feed(data)
        except SipParseError:
            self.close()  # unframeable stream: nothing sensible to answer
            return
        if messages:
            self.proven = True
        if self.framer.pending == 0:
            self.message_started_at = None
        elif messages or self.message_started_at is None:
            self.message_started_at = now
        for message in messages:
            self.owner.receive(message, self.peer, self.label)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.owner.connections.get(self.peer) is self:
            del self.owner.connections[self.peer]
        if self.closing:
            self.owner.closing -= 1

    def close(self) -> None:
        """Close from our side. The descriptor is released a loop iteration later, so it
        still counts against the limit until `connection_lost`."""
        if self.transport is not None and not self.closing:
            self.closing = True
            self.owner.closing += 1
            self.transport.abort()

    def expired(self, now: float, limits: TcpLimits, keep_open: Callable[[Address], bool]) -> str:
        """Why this connection must close now ("" when it may stay)."""
        if not self.inbound:
            return ""
        if not self.proven and now - self.opened_at > limits.first_message_s:
            return "no message"
        started = self.message_started_at
        if started is not None and now - started > limits.message_s:
            return "message not completed"
        if now - self.last_data_at > limits.idle_s and not keep_open(self.peer):
            return "idle"
        return ""


class SipTransports:
    """The listening sockets and the open TCP connections (by peer address)."""

    def __init__(
        self,
        receive: Receiver,
        *,
        max_message_bytes: int,
        limits: TcpLimits | None = None,
        keep_open: Callable[[Address], bool] = _never,
        exempt: Callable[[str], bool] = _never,
    ) -> None:
        """`keep_open(peer)`: the connection carries something that must stay reachable
        (a live registration); `exempt(ip)`: a configured peer, not held to the
        per-source limit."""
        self.receive = receive
        self.max_message_bytes = max_message_bytes
        self.limits = limits or TcpLimits()
        self.keep_open = keep_open
        self.exempt = exempt
        self.connections: dict[Address, TcpConnection] = {}
        self._connecting: dict[Address, list[bytes]] = {}
        """Connections being opened, with what waits to be written on each."""
        self.stats: dict[str, int] = {
            "tcp_accepted": 0, "tcp_refused": 0, "tcp_evicted": 0, "tcp_timed_out": 0,
            "tcp_accept_errors": 0,
        }  # fmt: skip
        self.max_connections = self.limits.effective_max()
        self._udp: asyncio.DatagramTransport | None = None
        self._listener: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending = 0
        self.closing = 0
        """Connections we closed whose descriptors are not released yet."""
        self._accept_failing = False
        self._failure_logged_at: float | None = None
        self._resume: asyncio.TimerHandle | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def now(self) -> float:
        return self._loop.time() if self._loop is not None else 0.0
        self.connect: Callable[[Outgoing], None] | None = None
        """Opens a TLS connection for a message to a peer we have none with (tls.py)."""

    async def open(self, host: str, port: int, transports: Sequence[str]) -> int:
        """Listen on `host:port` (port 0: any free port) for `transports`; the bound port."""
        self._loop = asyncio.get_running_loop()
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
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            listener = socket.socket(family, socket.SOCK_STREAM)
            try:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind((host, port))
                listener.listen(self.limits.backlog)
                listener.setblocking(False)
            except OSError:
                listener.close()
                raise
            self._listener = listener
            port = int(listener.getsockname()[1])
            loop.add_reader(listener.fileno(), self._accept_ready)
            self._sweeper = loop.call_later(SWEEP_S, self._sweep)
        return port

    # -- accepting -------------------------------------------------------------------------

    def _accept_ready(self) -> None:
        listener, loop = self._listener, self._loop
        if listener is None or loop is None:
            return
        for _ in range(ACCEPT_BATCH):
            try:
                conn, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _RESOURCE_ERRNOS:
                    self._accept_failed(exc)
                    return
                continue  # ECONNABORTED and the like: that one connection is gone
            if self._accept_failing:
                self._accept_failing = False
                log.warning("SIP TCP: accepting connections again")
            self._admit(conn, (str(addr[0]), int(addr[1])))

    def _accept_failed(self, exc: OSError) -> None:
        self.stats["tcp_accept_errors"] += 1
        now = self.now()
        if not self._accept_failing and (
            self._failure_logged_at is None or now - self._failure_logged_at >= ACCEPT_LOG_S
        ):
            self._accept_failing = True
            self._failure_logged_at = now
            log.error(
                "SIP TCP: cannot accept connections: %s (%d open, %d failed accepts so far; "
                "logged at most once a minute)",
                exc.strerror or exc, len(self.connections), self.stats["tcp_accept_errors"],
            )  # fmt: skip
        if self._loop is not None and self._listener is not None:
            self._loop.remove_reader(self._listener.fileno())
            self._resume = self._loop.call_later(ACCEPT_RETRY_S, self._resume_accepting)

    def _resume_accepting(self) -> None:
        self._resume = None
        if self._loop is not None and self._listener is not None:
            self._loop.add_reader(self._listener.fileno(), self._accept_ready)
            self._accept_ready()

    def _admit(self, conn: socket.socket, peer: Address) -> None:
        if not self.exempt(peer[0]):
            same = sum(1 for c in self.connections.values() if c.peer[0] == peer[0])
            if same >= self.limits.max_per_source:
                self._refuse(conn)
                return
        if self._held() >= self.max_connections:
            self._evict()  # frees a slot for a later accept, not at once
            if self._held() >= self.max_connections:
                self._refuse(conn)
                return
        assert self._loop is not None
        conn.setblocking(False)
        self._pending += 1
        self.stats["tcp_accepted"] += 1
        task = self._loop.create_task(self._connect(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, conn: socket.socket) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(
                lambda: TcpConnection(self, inbound=True), conn
            )
        except OSError as exc:
            log.debug("SIP TCP: connection lost while set up: %s", exc)
            conn.close()
        finally:
            self._pending -= 1

    def _held(self) -> int:
        """Descriptors held by TCP connections: open, being set up, or closing."""
        return len(self.connections) + self._pending + self.closing

    def _refuse(self, conn: socket.socket) -> None:
        self.stats["tcp_refused"] += 1
        with contextlib.suppress(OSError):
            conn.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        conn.close()  # with linger 0: a reset, no TIME_WAIT left behind

    def _evict(self) -> bool:
        """Close the oldest connection that never sent a whole message; False if none."""
        candidates = [
            c for c in self.connections.values() if c.inbound and not c.proven and not c.closing
        ]
        if not candidates:
            return False
        oldest = min(candidates, key=lambda c: c.opened_at)
        self.stats["tcp_evicted"] += 1
        self.connections.pop(oldest.peer, None)
        oldest.close()
        return True

    def _sweep(self) -> None:
        now = self.now()
        for connection in list(self.connections.values()):
            why = connection.expired(now, self.limits, self.keep_open)
            if why:
                self.stats["tcp_timed_out"] += 1
                log.debug("SIP TCP: closing %s:%s (%s)", *connection.peer, why)
                self.connections.pop(connection.peer, None)
                connection.close()
        if self._loop is not None and self._listener is not None:
            self._sweeper = self._loop.call_later(SWEEP_S, self._sweep)

    # -- sending ---------------------------------------------------------------------------

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
        task = asyncio.get_running_loop().create_task(self._open_to(address))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open_to(self, address: Address) -> None:
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
        if self._udp is not None:
            self._udp.close()
        for handle in (self._resume, self._sweeper):
            if handle is not None:
                handle.cancel()
        if self._listener is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        for task in list(self._tasks):
            task.cancel()
        closing = list(self.connections.values())
        for connection in closing:
            connection.close()
        if closing:
            await asyncio.sleep(0)  # let the transports run their connection_lost
