"""RTCP on the event loop for one RTP leg: the port + 1 socket (or the RTP socket with
rtcp-mux, RFC 5761), the report timer, where reports go. Layer 4 (channels).

The arithmetic is in `rtcp.py`. Reports go where the peer's RTCP comes from when it
comes from the media peer's address (symmetric RTCP, RFC 4961; what a NAT needs), else
to the port its SDP names (a=rtcp, RFC 3605), else its RTP port + 1; with rtcp-mux, to
the RTP destination. RTCP from any other address is ignored, as stray RTP is. Reports
are sent at a random 0.5-1.5 times the interval (RFC 3550 §6.2), and a last one with a
BYE when the leg closes (§6.6).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import socket
import time
import weakref
from collections.abc import Callable
from typing import Protocol, cast

from dipflow.channels.sip.events import Address
from dipflow.channels.sip.rtcp import RtcpState, is_rtcp
from dipflow.channels.sip.sdp import Negotiated

log = logging.getLogger(__name__)


class RtpSide(Protocol):
    """What RTCP needs of its RTP session (`media.RtpSession`)."""

    @property
    def transport(self) -> asyncio.DatagramTransport | None: ...

    @property
    def remote(self) -> Address | None: ...

    def rtp_timestamp(self) -> int:
        """The RTP timestamp of the next packet this leg sends."""
        ...

    def rtcp_allowed(self) -> bool:
        """False on an SRTP leg: its RTCP would have to be SRTCP, which we do not speak."""
        ...


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, owner: RtcpReports) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.owner.received(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("RTCP socket: %s", exc)  # e.g. the peer has no RTCP port (ICMP)


class RtcpReports:
    """One leg's RTCP: `state` (the statistics), the socket, the timer."""

    def __init__(self, rtp: RtpSide, *, ssrc: int, host: str) -> None:
        # A weak reference: the leg owns its reports, and a strong one back would make
        # every closed leg a cycle that only a full collection frees (a pause of tens of
        # milliseconds in the media worker at a thousand calls: docs/benchmarks.md).
        self.rtp = cast(RtpSide, weakref.proxy(rtp))
        self.state = RtcpState(ssrc=ssrc, cname=f"dipflow-{secrets.token_hex(4)}@{host}")
        self.mux = False
        self.peer_port: int | None = None
        """a=rtcp of the peer's SDP."""
        self.heard_from: Address | None = None
        """Where the peer's RTCP last came from (symmetric RTCP)."""
        self.transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._interval = 5.0
        self.sent = 0
        self.on_report: Callable[[], None] | None = None
        """Told after each report we send (the call passes its quality on to the runtime)."""

    async def open(self, host: str, port: int) -> None:
        """Bind the RTCP port (RTP port + 1); without it, RTCP goes over rtcp-mux only."""
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Endpoint(self), local_addr=(host, port),
                family=socket.AF_INET6 if ":" in host else socket.AF_INET,
            )  # fmt: skip
        except OSError as exc:
            log.info("RTCP port %s unavailable (%s): reports only with rtcp-mux", port, exc)
            return
        self.transport = transport

    def configure(self, negotiated: Negotiated) -> None:
        self.mux = negotiated.rtcp_mux
        self.peer_port = negotiated.rtcp_port

    # -- receiving --

    def received(self, data: bytes, source: Address) -> None:
        remote = self.rtp.remote
        if remote is None or source[0] != remote[0] or not is_rtcp(data):
            return  # not the media peer's: never trusted
        if not self.rtp.rtcp_allowed():
            return  # SRTCP: not read
        if self.state.receive(data, wall=time.time(), now=time.monotonic()) and not self.mux:
            self.heard_from = source

    # -- sending --

    def destination(self) -> tuple[asyncio.DatagramTransport, Address] | None:
        remote = self.rtp.remote
        if remote is None:
            return None
        if self.mux:
            transport = self.rtp.transport
            return (transport, remote) if transport is not None else None
        if self.transport is None:
            return None
        if self.heard_from is not None and self.heard_from[0] == remote[0]:
            return self.transport, self.heard_from
        return self.transport, (remote[0], self.peer_port or remote[1] + 1)

    def start(self, interval_s: float) -> None:
        self._interval = interval_s
        self._schedule()

    def _schedule(self) -> None:
        delay = self._interval * random.uniform(0.5, 1.5)
        self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _tick(self) -> None:
        self.send()
        self._schedule()
        if self.on_report is not None:
            self.on_report()

    def send(self, *, bye: bool = False) -> None:
        if not self.rtp.rtcp_allowed():
            return
        target = self.destination()
        if target is None:
            return
        transport, address = target
        report = self.state.report(
            wall=time.time(), now=time.monotonic(), rtp_now=self.rtp.rtp_timestamp(), bye=bye
        )
        transport.sendto(report, address)
        self.sent += 1

    def stop(self) -> None:
        """The leg ends: a last report with BYE (§6.6), then the socket closes."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self.send(bye=True)
        if self.transport is not None:
            self.transport.close()
            self.transport = None
