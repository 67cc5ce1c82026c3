"""Agent bridging of the SIP channel. Layer 4 (channels).

When an agent accepts a call, `AgentBridge.connect` rings the agent's phone (a user
registered with our registrar, or a static SIP URI naming an IP address; an external
number or a SIP URI naming a host goes out through outbound.py: trunk, DNS), waits
up to `agent_ring_timeout_s` for the answer, and relays RTP between the two legs: each
leg sends what the other received, and the caller's music stops. A phone that does not
answer, refuses, or answers with an SDP we cannot serve is hung up (CANCEL while
ringing, BYE once answered) and reported as a failure.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging

from dipflow.channels.seam import AgentEndpoint
from dipflow.channels.sip.call import SipCall
from dipflow.channels.sip.driver import SipDriver
from dipflow.channels.sip.events import Address, OutgoingAnswered, OutgoingFailed
from dipflow.channels.sip.message import SipParseError, SipUri
from dipflow.channels.sip.outbound import Answered, NotAnswered, OutboundCalls
from dipflow.channels.sip.sdp import Negotiated
from dipflow.channels.sip.sessions import Session, SessionPool, relay
from dipflow.channels.sip.srtp import Refused as SrtpRefused
from dipflow.channels.sip.srtp import Secured, accept_answer, call_policy, our_offer

log = logging.getLogger(__name__)

DEFAULT_SIP_PORT = 5060


class AgentBridge:
    """The agent legs: ringing, answering, and the calls by the agent's leg id."""

    def __init__(
        self, *, driver: SipDriver, sessions: SessionPool, outbound: OutboundCalls | None = None
    ) -> None:
        self.driver = driver
        self.sessions = sessions
        self.outbound = outbound
        self.legs: dict[str, SipCall] = {}
        """Agent leg id -> call."""
        self._ringing: dict[str, asyncio.Future[bytes | None]] = {}

    def target(self, sip_uri: str) -> tuple[str, Address, str] | None:
        """(Request-URI, where to send, transport) for an agent: registered, or a static URI."""
        try:
            uri = SipUri.parse(sip_uri)
        except SipParseError:
            return None
        ua = self.driver.ua
        binding = ua.registrar.lookup(uri.user, self.driver.now()) if uri.user else None
        if binding is not None and uri.port is None:
            return binding.contact_uri, binding.source, binding.transport
        try:
            ipaddress.ip_address(uri.host)  # static URIs name an address: no DNS lookups here
        except ValueError:
            return None
        transport = "tcp" if uri.params.get("transport", "udp").lower() == "tcp" else "udp"
        return sip_uri, (uri.host, uri.port or DEFAULT_SIP_PORT), transport

    async def connect(self, call: SipCall, agent: AgentEndpoint) -> bool:
        driver, sessions = self.driver, self.sessions
        target = self.target(agent.sip_uri or "")
        if target is None and self.outbound is not None and self.outbound.can_dial(agent.sip_uri):
            return await self._connect_outbound(call, agent)  # a number or a name: outbound.py
        if target is None:
            log.warning("agent %s: cannot reach %r", agent.agent_id, agent.sip_uri)
            return False
        uri, destination, transport = target
        session = await sessions.open(signalling_ip=destination[0])
        if session is None:
            return False
        tls = driver.settings.tls
        security = our_offer(call_policy(None, tls.srtp if tls else None, transport),
                             secure_transport=transport == "tls")  # fmt: skip
        leg_id = driver.ua.invite(
            target_uri=uri, destination=destination, transport=transport,
            sdp=sessions.offer(session, security, first=call.session.codec), now=driver.now(),
            caller_user=call.ani or "anonymous",
            caller_name=call.caller_name or call.ani or "dipflow",
        )  # fmt: skip
        waiter: asyncio.Future[bytes | None] = driver.loop.create_future()
        self._ringing[leg_id] = waiter
        call.agent_leg_id = leg_id
        self.legs[leg_id] = call
        driver.flush()
        try:
            body = await asyncio.wait_for(waiter, driver.settings.agent_ring_timeout_s)
        except (TimeoutError, asyncio.CancelledError):
            body = None
        finally:
            self._ringing.pop(leg_id, None)
        negotiated = sessions.negotiate(body) if body is not None else None
        secured = accept_answer(security, negotiated.crypto) if negotiated is not None else None
        if isinstance(secured, SrtpRefused):  # we demanded SRTP and the phone gave no key
            log.warning("agent %s: %s", agent.agent_id, secured.reason)
            negotiated = None
        if negotiated is None or call.ended:
            self.legs.pop(leg_id, None)
            if call.agent_leg_id == leg_id:
                call.agent_leg_id = None
            driver.ua.hangup(leg_id, driver.now())  # CANCEL while ringing, BYE if answered
            driver.flush()
            sessions.close(session)
            return False
        if isinstance(secured, Secured):
            session.srtp = secured.context
        self.connect_answered(call, agent, session, negotiated)
        return True

    def connect_answered(
        self,
        call: SipCall,
        agent: AgentEndpoint,
        session: Session,
        negotiated: Negotiated,
        *,
        early: bool = False,
    ) -> None:
        """Bridge `call` to an answered leg on `session` (`early`: already paced, as
        early media relayed to the caller)."""
        self.sessions.configure(session, negotiated)
        session.listener = call
        call.agent = agent
        call.agent_session = session
        session.rtcp_reports.on_report = call.report_media
        # Bridge (relay): each leg sends what the other leg received; the music stops.
        call.session.play(None)
        relay(call.session, session)
        relay(session, call.session)
        session.sending = True
        session.peer.confirm()  # the phone answered our INVITE: the dialog is confirmed
        if not early:
            self.sessions.start_pacing(session)

    async def _connect_outbound(self, call: SipCall, agent: AgentEndpoint) -> bool:
        """An agent on an external number (or a SIP URI by host name): through a trunk."""
        assert self.outbound is not None
        session = await self.sessions.open()
        if session is None:
            return False

        def placed(leg_id: str) -> None:
            call.agent_leg_id = leg_id
            self.legs[leg_id] = call

        outcome = await self.outbound.place(
            agent.sip_uri or "", session=session,
            ring_timeout_s=self.driver.settings.agent_ring_timeout_s, on_leg=placed,
        )  # fmt: skip
        if not isinstance(outcome, Answered) or call.ended:
            if call.agent_leg_id is not None:
                self.legs.pop(call.agent_leg_id, None)
                if isinstance(outcome, Answered):
                    self.outbound.hang_up(outcome.leg_id)
                call.agent_leg_id = None
            self.sessions.close(session)
            if isinstance(outcome, NotAnswered):
                log.info("agent %s at %r: %s", agent.agent_id, agent.sip_uri, outcome.reason)
            return False
        session.srtp = outcome.srtp
        self.connect_answered(call, agent, session, outcome.negotiated)
        return True

    def on_outgoing(self, event: OutgoingAnswered | OutgoingFailed) -> None:
        """The agent's phone answered (`body`: its SDP) or refused."""
        waiter = self._ringing.pop(event.leg_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(event.body if isinstance(event, OutgoingAnswered) else None)
        elif isinstance(event, OutgoingAnswered):
            self.driver.ua.hangup(event.leg_id, self.driver.now())  # answered after we gave up

    def release(self, call: SipCall, now: float) -> None:
        """`call` ends: stop ringing its agent, hang up the agent's leg."""
        leg_id = call.agent_leg_id
        if leg_id is None:
            return
        waiter = self._ringing.pop(leg_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self.driver.ua.hangup(leg_id, now)
        self.legs.pop(leg_id, None)
