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
from dipflow.channels.sip.builders import WARN_INCOMPATIBLE_MEDIA, display_of, user_of
from dipflow.channels.sip.call import CallControl, SipCall
from dipflow.channels.sip.codecs import offered_formats
from dipflow.channels.sip.driver import SipDriver
from dipflow.channels.sip.events import IncomingCall, ReOffer
from dipflow.channels.sip.message import SipParseError, SipUri
from dipflow.channels.sip.sessions import SessionPool, sends

log = logging.getLogger(__name__)

MAX_ID_CHARS = 256
"""ANI/DNIS are passed as data; cap their length so a hostile header cannot bloat state."""


class IncomingCalls:
    """The caller legs: answering INVITEs, and the calls by the caller's leg id."""

    def __init__(
        self, *, driver: SipDriver, sessions: SessionPool, host: CallHost, control: CallControl
    ) -> None:
        self.driver = driver
        self.sessions = sessions
        self.host = host
        self.control = control
        self.calls: dict[str, SipCall] = {}

    async def offer(self, event: IncomingCall) -> None:
        """Start a call for `event` and answer it, or refuse it."""
        driver, sessions = self.driver, self.sessions
        settings = driver.settings
        ua = driver.ua
        request = event.request
        negotiated = sessions.negotiate(request.body)
        if negotiated is None:  # RFC 3264 §6: nothing we can serve (or no offer at all)
            self._refuse_offer(event)
            return
        session = await sessions.open()
        if session is None:
            ua.reject(event.leg_id, 503, driver.now())
            driver.flush()
            return
        session.configure(negotiated)
        if event.leg_id not in ua.legs:  # cancelled while the socket was being opened
            sessions.close(session)
            return
        ani = (
            user_of(request.headers.get("P-Asserted-Identity"))
            or user_of(request.headers.get("From"))
        )[:MAX_ID_CHARS]
        dnis = _dnis(request.uri)
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
        call.attach(handle)
        sessions.start_pacing(session)
        if settings.answer_delay_s > 0:
            ua.ringing(event.leg_id)
            driver.flush()
            await asyncio.sleep(settings.answer_delay_s)
            if call.ended or event.leg_id not in ua.legs:
                return
        ua.answer(event.leg_id, sessions.answer(session, negotiated), driver.now())
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


def _dnis(uri: str | None) -> str:
    try:
        return SipUri.parse(uri or "").user[:MAX_ID_CHARS]
    except SipParseError:
        return ""


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
    if session is None or negotiated is None:
        ua.answer_reoffer(event.leg_id, None, driver.now())
        return
    session.configure(negotiated)
    # Hold (RFC 3264 §8.4): the peer sends only or nothing, so we stop sending.
    session.sending = sends(negotiated) and negotiated.remote_address not in ("0.0.0.0", "::")
    ua.answer_reoffer(event.leg_id, sessions.answer(session, negotiated), driver.now())
