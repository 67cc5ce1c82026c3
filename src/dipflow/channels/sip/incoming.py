"""Incoming INVITEs of the SIP channel. Layer 4 (channels).

A new INVITE becomes a `SipCall` and a flow (`CallHost.start_call`), answered with our
SDP; or it is refused: 488 for an offer we cannot serve (RFC 3264 §6), 503 when no RTP
port is free, 404 for a number no flow serves, 500 when starting the flow failed. A
re-INVITE on an established leg (the caller's or the agent's) re-negotiates its session:
hold and resume (RFC 3264 §8.4).
"""

from __future__ import annotations

import asyncio
import logging

from dipflow.channels.seam import CallHost
from dipflow.channels.sip.builders import user_of
from dipflow.channels.sip.call import CallControl, SipCall
from dipflow.channels.sip.driver import SipDriver
from dipflow.channels.sip.events import IncomingCall, ReOffer
from dipflow.channels.sip.message import SipParseError, SipUri
from dipflow.channels.sip.sessions import SessionPool, sends
from dipflow.channels.sip.srtp import Refused as SrtpRefused
from dipflow.channels.sip.srtp import Secured, answer_offer, call_policy
from dipflow.channels.sip.srtp import answer_reoffer as srtp_reanswer
from dipflow.channels.sip.trunkconfig import TrunkSettings
from dipflow.channels.sip.trunks import Challenge, Refused, TrunkTable

log = logging.getLogger(__name__)

MAX_ID_CHARS = 256
"""ANI/DNIS are passed as data; cap their length so a hostile header cannot bloat state."""


class IncomingCalls:
    """The caller legs: answering INVITEs, and the calls by the caller's leg id."""

    def __init__(
        self,
        *,
        driver: SipDriver,
        sessions: SessionPool,
        host: CallHost,
        control: CallControl,
        trunks: TrunkTable | None = None,
    ) -> None:
        self.driver = driver
        self.sessions = sessions
        self.host = host
        self.control = control
        self.trunks = trunks
        self.calls: dict[str, SipCall] = {}
        self.trunk_of: dict[str, TrunkSettings] = {}
        """Caller leg id -> the trunk the call came in through (transfers use it)."""

    async def offer(self, event: IncomingCall) -> None:
        """Start a call for `event` and answer it, or refuse it."""
        driver, sessions = self.driver, self.sessions
        settings = driver.settings
        ua = driver.ua
        request = event.request
        admission = (
            self.trunks.admit(request, event.source[0], driver.now()) if self.trunks else None
        )
        if isinstance(admission, Challenge):  # the trunk authenticates to us by digest too
            ua.challenge(event.leg_id, admission.proxy_authenticate, driver.now())
            driver.flush()
            return
        if isinstance(admission, Refused):  # trunks.py: a trunk's number, not from the trunk
            log.info("INVITE from %s refused %s: %s", event.source[0], admission.status,
                     admission.reason)  # fmt: skip
            ua.reject(event.leg_id, admission.status, driver.now())
            driver.flush()
            return
        trunk = admission.trunk if admission is not None else None
        negotiated = sessions.negotiate(request.body, trunk.codecs if trunk else None)
        if negotiated is None:  # RFC 3264 §6: nothing we can serve (or no offer at all)
            ua.reject(event.leg_id, 488, driver.now())
            driver.flush()
            return
        listener_policy = settings.tls.srtp if settings.tls else None
        policy = call_policy(trunk.srtp if trunk else None, listener_policy, event.transport)
        security = answer_offer(negotiated.profile, negotiated.crypto, policy,
                                secure_transport=event.transport == "tls")  # fmt: skip
        if isinstance(security, SrtpRefused):  # srtp.py: keys in the clear, or none offered
            log.info("INVITE from %s refused 488: %s", event.source[0], security.reason)
            ua.reject(event.leg_id, 488, driver.now())
            driver.flush()
            return
        session = await sessions.open()
        if session is None:
            ua.reject(event.leg_id, 503, driver.now())
            driver.flush()
            return
        session.configure(negotiated)
        secured = security if isinstance(security, Secured) else None
        if secured is not None:
            session.srtp = secured.context
        public = trunk.public_host if trunk else None
        if public is not None:
            ua.set_call_host(request.call_id, public)  # Contact behind NAT, per trunk
        if event.leg_id not in ua.legs:  # cancelled while the socket was being opened
            sessions.close(session)
            return
        ani = (
            user_of(request.headers.get("P-Asserted-Identity"))
            or user_of(request.headers.get("From"))
        )[:MAX_ID_CHARS]
        try:
            dnis = SipUri.parse(request.uri or "").user[:MAX_ID_CHARS]
        except SipParseError:
            dnis = ""
        if admission is not None:
            dnis = admission.dnis[:MAX_ID_CHARS]
        call = SipCall(self.control, leg_id=event.leg_id, session=session, ani=ani, dnis=dnis)
        session.listener = call
        try:
            handle = self.host.start_call(call, ani=ani, dnis=dnis, channel="sip")
        except LookupError:
            sessions.close(session)
            ua.reject(event.leg_id, 404, driver.now())
            driver.flush()
            return
        except Exception:
            log.exception("start_call failed for %r", dnis)
            sessions.close(session)
            ua.reject(event.leg_id, 500, driver.now())
            driver.flush()
            return
        self.calls[event.leg_id] = call
        if trunk is not None:
            self.trunk_of[event.leg_id] = trunk
        call.attach(handle)
        sessions.start_pacing(session)
        if settings.answer_delay_s > 0:
            ua.ringing(event.leg_id)
            driver.flush()
            await asyncio.sleep(settings.answer_delay_s)
            if call.ended or event.leg_id not in ua.legs:
                return
        answer = sessions.answer(session, negotiated, secured, address=public)
        ua.answer(event.leg_id, answer, driver.now())
        session.sending = sends(negotiated)
        driver.flush()

    def forget(self, call: SipCall) -> None:
        self.calls.pop(call.leg_id, None)
        self.trunk_of.pop(call.leg_id, None)


def answer_reoffer(
    driver: SipDriver, sessions: SessionPool, call: SipCall | None, event: ReOffer
) -> None:
    """Answer a re-INVITE on `call`'s caller or agent leg: 200 with our SDP, else 488."""
    ua = driver.ua
    if call is None:
        ua.answer_reoffer(event.leg_id, None, driver.now())
        return
    session = call.session if event.leg_id == call.leg_id else call.agent_session
    negotiated = sessions.negotiate(event.body)
    leg = ua.legs.get(event.leg_id)
    if session is None or negotiated is None or leg is None:
        ua.answer_reoffer(event.leg_id, None, driver.now())
        return
    # srtp.py: an SRTP leg never falls back to plain RTP; a plain one stays plain.
    security = srtp_reanswer(session.srtp, negotiated.profile, negotiated.crypto,
                             "mandatory" if session.srtp else "off",
                             secure_transport=leg.transport == "tls")  # fmt: skip
    if isinstance(security, SrtpRefused):
        ua.answer_reoffer(event.leg_id, None, driver.now())
        return
    secured = security if isinstance(security, Secured) else None
    session.srtp = secured.context if secured else None
    session.configure(negotiated)
    # Hold (RFC 3264 §8.4): the peer sends only or nothing, so we stop sending.
    session.sending = sends(negotiated) and negotiated.remote_address not in ("0.0.0.0", "::")
    ua.answer_reoffer(event.leg_id, sessions.answer(session, negotiated, secured), driver.now())
