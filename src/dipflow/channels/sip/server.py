"""The SIP/RTP channel, assembled: `SipServer`. Layer 4 (channels).

`SipServer` puts the parts together and routes the user agent's events to them:

* `driver.py`: the sans-IO `SipUserAgent` on the event loop (its timer, sending);
* `transport.py`: the UDP socket and TCP listener on one port;
* `tuning.py`: start-up work done once (hold music, G.711 tables, GC freeze);
* `incoming.py`: new INVITEs become calls of the runtime (`CallHost.start_call`),
  re-INVITEs re-negotiate a leg (hold);
* `bridge.py`: agent legs, rung and bridged on `connect_agent`;
* `sessions.py`: RTP ports, the media clock, offer/answer;
* `call.py`: `SipCall`, a call as the runtime sees it (it asks this server, as its
  `CallControl`, to bridge or end it).

Hang-ups become `CallerHungUp` / `AgentDisconnected` for the flow.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, assert_never

from prometheus_client import CollectorRegistry

from dipflow.channels.errors import ChannelError
from dipflow.channels.seam import (
    AgentEndpoint,
    CallHandle,
    CallHost,
    ChannelCall,
    OutboundCall,
    TransferResult,
)
from dipflow.channels.sip.agent import SipUserAgent
from dipflow.channels.sip.bridge import AgentBridge
from dipflow.channels.sip.call import SipCall
from dipflow.channels.sip.digits import DigitMethod
from dipflow.channels.sip.driver import SipDriver
from dipflow.channels.sip.events import (
    Address,
    AgentRegistered,
    CallCancelled,
    CallConfirmed,
    CallTerminated,
    IncomingCall,
    InfoDigit,
    Notified,
    OutgoingAnswered,
    OutgoingFailed,
    OutgoingProgress,
    ReOffer,
    ReofferAcked,
    RequestDone,
    SipEvent,
)
from dipflow.channels.sip.incoming import IncomingCalls, answer_reoffer, take_answer
from dipflow.channels.sip.media import MediaClock
from dipflow.channels.sip.metrics import SipMetrics
from dipflow.channels.sip.outbound import NotAnswered
from dipflow.channels.sip.refer import Transfers
from dipflow.channels.sip.sessions import SessionPool
from dipflow.channels.sip.settings import SipSettings
from dipflow.channels.sip.trunking import Trunking
from dipflow.channels.sip.trunkstatus import TrunkCollector, trunk_rows
from dipflow.channels.sip.tuning import warm_up
from dipflow.channels.sip.watchdog import MediaWatchdog
from dipflow.engine.events import AgentDisconnected, CallerHungUp, Event
from dipflow.media import PromptRenderer

log = logging.getLogger(__name__)


class SipServer:
    """The SIP/RTP channel: `await start()`, then calls reach `host` until `await stop()`."""

    def __init__(
        self,
        settings: SipSettings,
        host: CallHost,
        prompts: PromptRenderer,
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        """`registry`: where the channel's /metrics series go (the runtime's, in the
        composition root); a private one when None."""
        self.settings = settings
        self.host = host
        self._prompts = prompts
        self.driver = SipDriver(settings, self._handle)
        self.metrics = SipMetrics(registry, lambda: self.ua if self.driver.started else None)
        self.sessions = SessionPool(settings)
        self.trunking = Trunking(settings, self.driver, self.sessions)
        self.incoming = IncomingCalls(
            driver=self.driver, sessions=self.sessions, host=host, control=self,
            trunks=self.trunking.table,
        )  # fmt: skip
        self.bridge = AgentBridge(
            driver=self.driver, sessions=self.sessions, outbound=self.trunking.outbound
        )
        self.watchdog = MediaWatchdog(
            driver=self.driver, sessions=self.sessions, calls=lambda: self.calls.values()
        )
        self.transfers = Transfers(
            driver=self.driver, sessions=self.sessions, awaiting=self.trunking.awaiting,
            outbound=self.trunking.outbound, bridge=self.bridge,
        )  # fmt: skip

    # -- what the runtime, tests and benchmarks see --

    @property
    def prompts(self) -> PromptRenderer:
        return self._prompts

    @property
    def ua(self) -> SipUserAgent:
        return self.driver.ua

    @property
    def address(self) -> Address:
        """Where SIP listens (the real port once started, when `port` was 0)."""
        return self.driver.address

    @property
    def calls(self) -> dict[str, SipCall]:
        """Caller leg id -> call."""
        return self.incoming.calls

    @property
    def clock(self) -> MediaClock:
        return self.sessions.clock

    # -- lifecycle --

    async def start(self) -> None:
        settings = self.settings
        host, port = await self.driver.start()
        guard = self.driver.ua.guard
        self.sessions.ledger = guard
        link = self.sessions.link
        if link is not None:  # the worker keeps its own ledger: it learns what SIP proved
            guard.on_verify = link.verify
        try:
            await self.sessions.start()
        except ChannelError:
            await self.driver.close()
            raise
        self.watchdog.start()
        self.driver.spawn(warm_up(self._prompts, freeze_gc=settings.freeze_gc_after_start))
        await self.trunking.start()
        log.info("SIP listening on %s:%s (%s)", host, port, "/".join(settings.transports))

    async def stop(self) -> None:
        await self.trunking.stop()
        for call in list(self.calls.values()):
            self.end_call(call, notify=None)
        self.driver.flush()
        await asyncio.sleep(0)  # let the BYEs leave
        self.driver.cancel_timer()
        await self.watchdog.stop()
        await self.sessions.stop()
        await self.driver.close()

    # -- the user agent's events --

    def _handle(self, event: SipEvent) -> None:
        match event:
            case IncomingCall():
                self.driver.spawn(self.incoming.offer(event))
            case CallCancelled() | CallTerminated():
                call = self.calls.get(event.leg_id)
                if call is not None:
                    call.caller_gone()
                agent_call = self.bridge.legs.get(event.leg_id)
                if agent_call is not None:
                    agent_call.agent_gone()
            case ReOffer():
                call = self.calls.get(event.leg_id) or self.bridge.legs.get(event.leg_id)
                answer_reoffer(self.driver, self.sessions, call, event)
            case OutgoingAnswered() | OutgoingFailed():
                if not self.trunking.outbound.on_outgoing(event):
                    self.bridge.on_outgoing(event)
            case OutgoingProgress():
                self.trunking.outbound.on_progress(event)
            case RequestDone():
                self.trunking.awaiting.done(event)
            case Notified():
                self.trunking.awaiting.notified(event)
            case CallConfirmed():
                call = self.calls.get(event.leg_id)
                if call is not None:
                    if not take_answer(self.sessions, call, event.leg_id, event.body):
                        self.end_call(call, notify=CallerHungUp())
                        return
                    call.session.peer.confirm()  # the ACK: our media may flow (latch.py)
            case ReofferAcked():
                call = self.calls.get(event.leg_id) or self.bridge.legs.get(event.leg_id)
                if call is not None and not take_answer(
                    self.sessions, call, event.leg_id, event.body
                ):
                    agent_id = call.agent.agent_id if call.agent else ""
                    gone = (
                        CallerHungUp() if event.leg_id == call.leg_id
                        else AgentDisconnected(agent_id=agent_id)
                    )  # fmt: skip
                    self.end_call(call, notify=gone)
            case InfoDigit():
                call = self.calls.get(event.leg_id)
                if call is not None:
                    call.on_digit(call.session, event.digit, DigitMethod.SIP_INFO)
            case AgentRegistered():
                pass  # the user agent keeps the state; nothing for the calls to do
            case _:
                assert_never(event)

    # -- CallControl (what a SipCall asks of its channel) --

    async def connect_agent(self, call: SipCall, agent: AgentEndpoint) -> bool:
        return await self.bridge.connect(call, agent)

    async def transfer(
        self, call: SipCall, destination: str, *, caller_id: str | None
    ) -> TransferResult:
        return await self.transfers.blind(
            call, destination, caller_id=caller_id, trunk=self.incoming.trunk_of.get(call.leg_id)
        )

    async def originate(
        self,
        destination: str,
        *,
        caller_id: str | None = None,
        caller_name: str | None = None,
        ring_timeout_s: float = 60.0,
    ) -> SipCall | NotAnswered:
        """Call a number (through a trunk) or a SIP URI; the answered call (e.g. a
        callback), or why it was not answered. See trunking.py."""
        return await self.trunking.originate(
            self, self.calls, destination, caller_id=caller_id, caller_name=caller_name,
            ring_timeout_s=ring_timeout_s,
        )  # fmt: skip

    # -- OutboundChannel (callbacks the runtime asks for) --

    def can_dial(self, number: str) -> bool:
        return self.trunking.outbound.can_dial(number)

    async def dial(self, call: OutboundCall, handle: CallHandle) -> ChannelCall:
        """Ring `call.number` through a trunk; the answered leg reports to `handle`."""
        result = await self.originate(call.number, caller_id=call.caller_id)
        if isinstance(result, NotAnswered):
            raise ChannelError(f"{call.number} not reached: {result.reason}")
        result.attach(handle)
        return result

    def end_call(self, call: SipCall, *, notify: Event | None) -> None:
        """End both legs of `call` (idempotent); `notify` is posted to the runtime once."""
        if call.ended:
            return
        call.ended = True
        now = self.driver.now()
        self.ua.hangup(call.leg_id, now)
        self.bridge.release(call, now)
        self.incoming.forget(call)
        self.sessions.close(call.session)
        if call.agent_session is not None:
            self.sessions.close(call.agent_session)
        self.driver.flush()
        call.report_media()  # the final numbers, before the runtime hears the call ended
        for quality in call.media_quality():
            self.metrics.observe(quality)
        if notify is not None and call.handle is not None:
            call.handle.post(notify)

    def reset_stats(self) -> None:
        """Start the RTP jitter histogram afresh (benchmarks, between runs)."""
        self.sessions.clock.jitter.reset()
        if self.sessions.link is not None:
            self.sessions.link.reset_stats()

    def trunk_status(self) -> list[dict[str, Any]]:
        """One row per trunk for the supervisor view (trunkstatus.py)."""
        return trunk_rows(self.trunking, self.driver.now() if self.driver.started else 0.0)

    def metrics_collector(self) -> TrunkCollector:
        """Prometheus metrics of the trunks and TLS (register on the runtime's registry)."""
        return TrunkCollector(self.trunking, self.driver.tls, self.driver.now)

    def stats(self) -> dict[str, float]:
        """Counters for benchmarks and metrics (with a media worker: its pacer's, as of
        its last report, at most half a second old)."""
        jitter = self.sessions.clock.jitter
        ua_stats = self.driver.ua.stats if self.driver.started else {}
        media: dict[str, float] = {
            "rtp_packets_timed": jitter.count,
            "rtp_jitter_p50_ms": jitter.percentile(50) * 1000,
            "rtp_jitter_p99_ms": jitter.percentile(99) * 1000,
            "rtp_jitter_max_ms": jitter.percentile(100) * 1000,
        }
        if self.sessions.link is not None:
            media = self.sessions.link.stats
        return {
            "calls": len(self.calls),
            **media,
            **{k: float(v) for k, v in ua_stats.items()},
            **{f"rtp_ended_{k}": float(v) for k, v in self.watchdog.ended.items()},
        }

    @property
    def media_pid(self) -> int | None:
        """The media worker's process id (media_mode "process"), for CPU accounting."""
        return self.sessions.link.worker_pid if self.sessions.link is not None else None
