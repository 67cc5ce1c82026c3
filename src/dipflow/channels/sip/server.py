"""The asyncio driver of the SIP channel: sockets, timers, and calls into the runtime.

`SipServer` owns the UDP socket (and a TCP listener), feeds every message to the
sans-IO `SipUserAgent`, sends what it returns, re-arms one loop timer at the
agent's `next_deadline()`, and maps its events to calls: a new INVITE starts a
flow through `CallHost.start_call` (404 for an unknown number, 488 for an offer we
cannot serve), hang-ups become `CallerHungUp` / `AgentDisconnected`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import secrets
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from dipflow.channels.sip.agent import SipUserAgent
from dipflow.channels.sip.builders import user_of
from dipflow.channels.sip.call import SipCall
from dipflow.channels.sip.events import (
    Address,
    CallCancelled,
    CallTerminated,
    IncomingCall,
    OutgoingAnswered,
    OutgoingFailed,
    ReOffer,
    SipEvent,
)
from dipflow.channels.sip.media import (
    MediaClock,
    PortAllocator,
    RtpSession,
    SessionListener,
    open_session,
)
from dipflow.channels.sip.message import SipParseError, SipUri, StreamFramer
from dipflow.channels.sip.sdp import (
    Codec,
    Direction,
    Negotiated,
    SdpError,
    build_sdp,
    negotiate,
    parse_sdp,
)
from dipflow.channels.sip.settings import SipSettings
from dipflow.engine.events import Event
from dipflow.media import PromptRenderer

if TYPE_CHECKING:
    from dipflow.channels.seam import AgentEndpoint, CallHost

log = logging.getLogger(__name__)

MAX_ID_CHARS = 256
"""ANI/DNIS are passed as data; cap their length so a hostile header cannot bloat state."""


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: SipServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.server.receive(data, (str(addr[0]), int(addr[1])), "udp")

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP UDP socket: %s", exc)


class _TcpProtocol(asyncio.Protocol):
    def __init__(self, server: SipServer) -> None:
        self.server = server
        self.framer = StreamFramer(server.settings.max_message_bytes)
        self.transport: asyncio.Transport | None = None
        self.peer: Address = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1]))
        self.server.tcp_connections[self.peer] = self

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.framer.feed(data)
        except SipParseError:
            if self.transport is not None:
                self.transport.close()  # unframeable stream: nothing sensible to answer
            return
        for message in messages:
            self.server.receive(message, self.peer, "tcp")

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.tcp_connections.pop(self.peer, None)


class SipServer:
    """The SIP/RTP channel: `await start()`, then calls reach `host` until `await stop()`."""

    def __init__(self, settings: SipSettings, host: CallHost, prompts: PromptRenderer) -> None:
        self.settings = settings
        self.host = host
        self.prompts = prompts
        self.clock = MediaClock()
        self.ports = PortAllocator(settings.rtp_port_min, settings.rtp_port_max)
        self.tcp_connections: dict[Address, _TcpProtocol] = {}
        self.calls: dict[str, SipCall] = {}
        """Caller leg id -> call."""
        self._agent_legs: dict[str, SipCall] = {}
        self._ringing: dict[str, asyncio.Future[bytes | None]] = {}
        self._ua: SipUserAgent | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.address: Address = (settings.host, settings.port)
        """Where SIP listens (the real port once started, when `port` was 0)."""

    @property
    def ua(self) -> SipUserAgent:
        if self._ua is None:
            raise RuntimeError("SipServer is not started")
        return self._ua

    # -- lifecycle --

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        settings = self.settings
        for attempt in range(20):  # port 0: UDP picks, TCP must get the same number
            port = settings.port
            try:
                if "udp" in settings.transports:
                    transport, _ = await loop.create_datagram_endpoint(
                        lambda: _UdpProtocol(self), local_addr=(settings.host, port)
                    )
                    self._udp = transport
                    port = int(transport.get_extra_info("sockname")[1])
                if "tcp" in settings.transports:
                    self._tcp = await loop.create_server(
                        lambda: _TcpProtocol(self), settings.host, port, reuse_address=True
                    )
                    port = int(self._tcp.sockets[0].getsockname()[1])
                break
            except OSError:
                if self._udp is not None:
                    self._udp.close()
                    self._udp = None
                if settings.port != 0 or attempt == 19:
                    raise
        self.address = (settings.host, port)
        self._ua = SipUserAgent(settings, local_port=port)
        self.clock.start()
        self._spawn(self._warm_up())
        log.info("SIP listening on %s:%s (%s)", settings.host, port, "/".join(settings.transports))

    async def _warm_up(self) -> None:
        """Render the hold music and build the G.711 tables now, not in the first call."""

        def render() -> None:
            music = self.prompts.render_audio("hold")
            music.ulaw()
            music.alaw()

        try:
            await asyncio.to_thread(render)
        except Exception:  # a broken audio setup shows up per call as PromptFailed
            log.exception("warming up the hold music failed")
        if self.settings.freeze_gc_after_start:
            # A full collection over everything imported and built at start-up stalls the
            # loop for ~100 ms: measured as RTP send jitter. Frozen objects are never
            # scanned again, so collections during calls only walk per-call objects.
            gc.freeze()

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            self.end_call(call, notify=None)
        self._flush()
        await asyncio.sleep(0)  # let the BYEs leave
        if self._timer is not None:
            self._timer.cancel()
        await self.clock.stop()
        for task in list(self._tasks):
            task.cancel()
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            for connection in list(self.tcp_connections.values()):
                if connection.transport is not None:
                    connection.transport.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._tcp.wait_closed(), 2)

    # -- message pump --

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def receive(self, data: bytes, source: Address, transport: str) -> None:
        if self._ua is None:
            return
        events = self._ua.receive_datagram(data, source, self._now(), transport)
        self._dispatch(events)
        self._flush()

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._dispatch(self.ua.handle_timer(self._now()))
        self._flush()

    def _flush(self) -> None:
        if self._ua is None:
            return
        for out in self._ua.take_outgoing():
            if out.transport == "tcp":
                connection = self.tcp_connections.get(out.destination)
                if connection is not None and connection.transport is not None:
                    connection.transport.write(out.data)
            elif self._udp is not None:
                self._udp.sendto(out.data, out.destination)
        deadline = self._ua.next_deadline()
        if deadline != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._timer_at = deadline
            if deadline is not None and self._loop is not None:
                self._timer = self._loop.call_at(deadline, self._on_timer)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _dispatch(self, events: list[SipEvent]) -> None:
        for event in events:
            try:
                self._handle(event)
            except Exception:  # a bug in one call must not take the channel down
                log.exception("SIP event %r failed", type(event).__name__)

    def _handle(self, event: SipEvent) -> None:
        if isinstance(event, IncomingCall):
            self._spawn(self._incoming(event))
        elif isinstance(event, CallCancelled | CallTerminated):
            call = self.calls.get(event.leg_id)
            if call is not None:
                call.caller_gone()
            agent_call = self._agent_legs.get(event.leg_id)
            if agent_call is not None:
                agent_call.agent_gone()
        elif isinstance(event, ReOffer):
            self._reoffer(event)
        elif isinstance(event, OutgoingAnswered | OutgoingFailed):
            waiter = self._ringing.pop(event.leg_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(event.body if isinstance(event, OutgoingAnswered) else None)
            elif isinstance(event, OutgoingAnswered):
                self.ua.hangup(event.leg_id, self._now())  # answered after we gave up

    # -- incoming calls --

    async def _incoming(self, event: IncomingCall) -> None:
        ua, now = self.ua, self._now()
        request = event.request
        try:
            negotiated = negotiate(parse_sdp(request.body), self._codecs())
        except SdpError:
            negotiated = None
        if negotiated is None:  # RFC 3264 §6: nothing we can serve (or no offer at all)
            ua.reject(event.leg_id, 488, now)
            self._flush()
            return
        session = await open_session(self.settings.host, self.ports, SessionListener())
        if session is None:
            ua.reject(event.leg_id, 503, self._now())
            self._flush()
            return
        session.configure(negotiated)
        if event.leg_id not in ua.legs:  # cancelled while the socket was being opened
            self._close_session(session)
            return
        ani = (
            user_of(request.headers.get("P-Asserted-Identity"))
            or user_of(request.headers.get("From"))
        )[:MAX_ID_CHARS]
        try:
            dnis = SipUri.parse(request.uri or "").user[:MAX_ID_CHARS]
        except SipParseError:
            dnis = ""
        call = SipCall(self, leg_id=event.leg_id, session=session, ani=ani, dnis=dnis)
        session.listener = call
        try:
            handle = self.host.start_call(call, ani=ani, dnis=dnis, channel="sip")
        except LookupError:
            self._close_session(session)
            ua.reject(event.leg_id, 404, self._now())
            self._flush()
            return
        except Exception:
            log.exception("start_call failed for %r", dnis)
            self._close_session(session)
            ua.reject(event.leg_id, 500, self._now())
            self._flush()
            return
        self.calls[event.leg_id] = call
        call.attach(handle)
        self.clock.add(session)
        if self.settings.answer_delay_s > 0:
            ua.ringing(event.leg_id)
            self._flush()
            await asyncio.sleep(self.settings.answer_delay_s)
            if call.ended or event.leg_id not in ua.legs:
                return
        ua.answer(event.leg_id, self._answer_sdp(session, negotiated), self._now())
        session.sending = negotiated.direction in (Direction.SENDRECV, Direction.SENDONLY)
        self._flush()

    def _codecs(self) -> tuple[Codec, ...]:
        return tuple(Codec[name] for name in self.settings.codecs)

    def _answer_sdp(self, session: RtpSession, negotiated: Negotiated) -> bytes:
        return build_sdp(
            session_id=secrets.randbelow(2**31), version=1, address=self.settings.public_host,
            port=session.port, codecs=(negotiated.codec,),
            dtmf_payload_type=negotiated.dtmf_payload_type, direction=negotiated.direction,
        )  # fmt: skip

    def _reoffer(self, event: ReOffer) -> None:
        call = self.calls.get(event.leg_id) or self._agent_legs.get(event.leg_id)
        if call is None:
            self.ua.answer_reoffer(event.leg_id, None, self._now())
            return
        session = call.session if event.leg_id == call.leg_id else call.agent_session
        try:
            negotiated = negotiate(parse_sdp(event.body), self._codecs())
        except SdpError:
            negotiated = None
        if session is None or negotiated is None:
            self.ua.answer_reoffer(event.leg_id, None, self._now())
            return
        session.configure(negotiated)
        # Hold (RFC 3264 §8.4): the peer sends only or nothing, so we stop sending.
        session.sending = negotiated.direction in (Direction.SENDRECV, Direction.SENDONLY) and (
            negotiated.remote_address not in ("0.0.0.0", "::")
        )
        self.ua.answer_reoffer(event.leg_id, self._answer_sdp(session, negotiated), self._now())

    # -- agents --

    def _agent_target(self, sip_uri: str) -> tuple[str, Address, str] | None:
        """(Request-URI, where to send, transport) for an agent: registered, or a static URI."""
        try:
            uri = SipUri.parse(sip_uri)
        except SipParseError:
            return None
        binding = self.ua.registrar.lookup(uri.user, self._now()) if uri.user else None
        if binding is not None and uri.port is None:
            return binding.contact_uri, binding.source, binding.transport
        try:
            ipaddress.ip_address(uri.host)  # static URIs name an address: no DNS lookups here
        except ValueError:
            return None
        transport = uri.params.get("transport", "udp").lower()
        return sip_uri, (uri.host, uri.port or 5060), "tcp" if transport == "tcp" else "udp"

    async def connect_agent(self, call: SipCall, agent: AgentEndpoint) -> bool:
        target = self._agent_target(agent.sip_uri or "")
        if target is None:
            log.warning("agent %s: cannot reach %r", agent.agent_id, agent.sip_uri)
            return False
        uri, destination, transport = target
        session = await open_session(self.settings.host, self.ports, SessionListener())
        if session is None:
            return False
        offer = build_sdp(
            session_id=secrets.randbelow(2**31), version=1, address=self.settings.public_host,
            port=session.port, codecs=self._codecs(), dtmf_payload_type=101,
        )  # fmt: skip
        leg_id = self.ua.invite(
            target_uri=uri, destination=destination, transport=transport, sdp=offer,
            now=self._now(), caller_user=call.ani or "dipflow", caller_name="dipflow",
        )  # fmt: skip
        assert self._loop is not None
        waiter: asyncio.Future[bytes | None] = self._loop.create_future()
        self._ringing[leg_id] = waiter
        call.agent_leg_id = leg_id
        self._agent_legs[leg_id] = call
        self._flush()
        try:
            body = await asyncio.wait_for(waiter, self.settings.agent_ring_timeout_s)
        except (TimeoutError, asyncio.CancelledError):
            body = None
        finally:
            self._ringing.pop(leg_id, None)
        negotiated = None
        if body is not None:
            try:
                negotiated = negotiate(parse_sdp(body), self._codecs())
            except SdpError:
                negotiated = None
        if negotiated is None or call.ended:
            self._agent_legs.pop(leg_id, None)
            if call.agent_leg_id == leg_id:
                call.agent_leg_id = None
            self.ua.hangup(leg_id, self._now())  # CANCEL while ringing, BYE if answered
            self._flush()
            self._close_session(session)
            return False
        session.configure(negotiated)
        session.listener = call
        call.agent = agent
        call.agent_session = session
        # Bridge (relay): each leg sends what the other leg received; the music stops.
        call.session.play(None)
        call.session.bridge = session
        session.bridge = call.session
        session.sending = True
        self.clock.add(session)
        return True

    # -- ending --

    def end_call(self, call: SipCall, *, notify: Event | None) -> None:
        """End both legs of `call` (idempotent); `notify` is posted to the runtime once."""
        if call.ended:
            return
        call.ended = True
        now = self._now()
        self.ua.hangup(call.leg_id, now)
        if call.agent_leg_id is not None:
            waiter = self._ringing.pop(call.agent_leg_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            self.ua.hangup(call.agent_leg_id, now)
            self._agent_legs.pop(call.agent_leg_id, None)
        self.calls.pop(call.leg_id, None)
        self._close_session(call.session)
        if call.agent_session is not None:
            self._close_session(call.agent_session)
        self._flush()
        if notify is not None and call.handle is not None:
            call.handle.post(notify)

    def _close_session(self, session: RtpSession) -> None:
        self.clock.remove(session)
        session.close()
        self.ports.release(session.port)

    def stats(self) -> dict[str, float]:
        """Counters for benchmarks and metrics."""
        jitter = self.clock.jitter
        return {
            "calls": len(self.calls),
            "rtp_packets_timed": jitter.count,
            "rtp_jitter_p50_ms": jitter.percentile(50) * 1000,
            "rtp_jitter_p99_ms": jitter.percentile(99) * 1000,
            "rtp_jitter_max_ms": jitter.percentile(100) * 1000,
            **{k: float(v) for k, v in (self._ua.stats if self._ua else {}).items()},
        }
