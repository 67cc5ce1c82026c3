"""Incoming INVITEs of the SIP channel. Layer 4 (channels).

A new INVITE becomes a `SipCall` and a flow (`CallHost.start_call`), answered with our
SDP; or it is refused: 488 for an offer we cannot serve (RFC 3264 §6), 503 when no RTP
port is free, 404 for a number no flow serves, 500 when starting the flow failed. A
re-INVITE on an established leg (the caller's or the agent's) re-negotiates its session:
hold and resume (RFC 3264 §8.4).

An INVITE (or re-INVITE) without SDP is a delayed offer (trunks and PBXs without "early
offer", e.g. Cisco CUCM): our 2xx makes the offer (every codec we serve, telephone-event)
and the ACK brings the answer (RFC 3261 §13.2.1, RFC 3264 §5). Media waits for it; an ACK
without a usable answer ends the call with a BYE (there is no other way to refuse it).
"""

from __future__ import annotations

import asyncio
import logging

from dipflow.channels.seam import CallHost
from dipflow.channels.sip.builders import WARN_INCOMPATIBLE_MEDIA, display_of, user_of
from dipflow.channels.sip.call import CallControl, SipCall
from dipflow.channels.sip.codecs import offered_formats
from dipflow.channels.sip.driver import SipDriver
from dipflow.channels.sip.events import IncomingCall, ReOffer
from dipflow.channels.sip.message import SipParseError, SipUri
from dipflow.channels.sip.sessions import SessionPool, sends
from dipflow.channels.sip.srtp import Decision as SrtpDecision
from dipflow.channels.sip.srtp import Plain, Secured, answer_offer, call_policy
from dipflow.channels.sip.srtp import Refused as SrtpRefused
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
        delayed = not has_offer(request.body)
        codecs = trunk.codecs if trunk else None
        negotiated = None if delayed else sessions.negotiate(request.body, codecs)
        if negotiated is None and not delayed:  # RFC 3264 §6: nothing we can serve
            self._refuse_offer(event)
            return
        listener_policy = settings.tls.srtp if settings.tls else None
        policy = call_policy(trunk.srtp if trunk else None, listener_policy, event.transport)
        security: SrtpDecision = Plain()
        if negotiated is not None:
            security = answer_offer(negotiated.profile, negotiated.crypto, policy,
                                    secure_transport=event.transport == "tls")  # fmt: skip
        elif policy == "mandatory":  # our offer in a 2xx carries no keys (not supported)
            security = SrtpRefused(reason="SRTP is mandatory and the INVITE has no offer")
        if isinstance(security, SrtpRefused):  # srtp.py: keys in the clear, or none offered
            log.info("INVITE from %s refused 488: %s", event.source[0], security.reason)
            ua.reject(event.leg_id, 488, driver.now())
            driver.flush()
            return
        session = await sessions.open(signalling_ip=event.source[0])
        if session is None:
            ua.reject(event.leg_id, 503, driver.now())
            driver.flush()
            return
        session.listens_for_keys = True
        if negotiated is not None:
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
        dnis = _dnis(request.uri)
        if admission is not None:
            dnis = admission.dnis[:MAX_ID_CHARS]
        name = (
            display_of(request.headers.get("P-Asserted-Identity"))
            or display_of(request.headers.get("From"))
        )[:MAX_ID_CHARS]
        call = SipCall(self.control, leg_id=event.leg_id, session=session, ani=ani, dnis=dnis)
        call.caller_name = name
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
        if negotiated is None:  # delayed offer: ours goes in the 2xx, the answer in the ACK
            call.offered.add(event.leg_id)
            ua.answer(event.leg_id, sessions.offer(session, address=public), driver.now())
        else:
            answer = sessions.answer(session, negotiated, secured, address=public)
            ua.answer(event.leg_id, answer, driver.now())
            session.sending = sends(negotiated)
        driver.flush()

    def _refuse_offer(self, event: IncomingCall) -> None:
        """488 for an offer without a codec in common: with `Warning: 305` (RFC 3261
        §20.43) naming what was offered, a log line, a metric, and a recent call in error
        for the supervisor."""
        driver, request = self.driver, event.request
        offered = offered_formats(request.body)
        ours = ", ".join(c.name for c in self.sessions.codecs)
        if offered is None:
            reason = "no usable audio offer"
            warning = None
        else:
            reason = f"no codec in common: offered {', '.join(offered) or 'none'}; we accept {ours}"
            warning = (WARN_INCOMPATIBLE_MEDIA, f"Incompatible media format: {reason}"[:200])
        ani = user_of(request.headers.get("From"))[:MAX_ID_CHARS]
        dnis = _dnis(request.uri)
        log.warning("SIP call from %r to %r refused with 488: %s", ani, dnis, reason)
        driver.ua.reject(event.leg_id, 488, driver.now(), warning=warning)
        driver.flush()
        self.host.call_refused(ani=ani, dnis=dnis, channel="sip", status=488, reason=reason)

    def forget(self, call: SipCall) -> None:
        self.calls.pop(call.leg_id, None)
        self.trunk_of.pop(call.leg_id, None)


def _dnis(uri: str | None) -> str:
    try:
        return SipUri.parse(uri or "").user[:MAX_ID_CHARS]
    except SipParseError:
        return ""


def has_offer(body: bytes) -> bool:
    """Whether a request carries SDP at all (else the offer is ours to make)."""
    return bool(body.strip())


def answer_reoffer(
    driver: SipDriver, sessions: SessionPool, call: SipCall | None, event: ReOffer
) -> None:
    """Answer a re-INVITE on `call`'s caller or agent leg: 200 with our SDP, else 488."""
    ua = driver.ua
    if call is None:
        ua.answer_reoffer(event.leg_id, None, driver.now())
        return
    session = call.session if event.leg_id == call.leg_id else call.agent_session
    if session is not None and not has_offer(event.body):  # delayed offer in a re-INVITE
        call.offered.add(event.leg_id)
        ua.answer_reoffer(event.leg_id, sessions.offer(session), driver.now())
        return
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


def take_answer(sessions: SessionPool, call: SipCall, leg_id: str, body: bytes) -> bool:
    """Apply the answer an ACK brought to the offer in our 2xx (delayed offer). False when
    the ACK has no answer we can use: the caller must hang the leg up (RFC 3264 §5 gives
    no other way to refuse an answer)."""
    if leg_id not in call.offered:
        return True  # our 2xx answered an offer: nothing to take from the ACK
    call.offered.discard(leg_id)
    session = call.session if leg_id == call.leg_id else call.agent_session
    negotiated = sessions.negotiate(body) if has_offer(body) else None
    if session is None or negotiated is None:
        log.warning("SIP leg %s: the ACK carried no usable SDP answer to our offer", leg_id)
        return False
    session.configure(negotiated)
    session.sending = sends(negotiated) and negotiated.remote_address not in ("0.0.0.0", "::")
    return True
