"""Calls out: to numbers through trunks, or to SIP URIs found by DNS. Layer 4 (channels).

`OutboundCalls.place(destination, session=...)` rings a number (`+4930...`, `tel:`) or a
SIP URI and waits for the answer:

* the route comes from the trunk table (trunks.py): the trunk, its Request-URI and the
  targets (RFC 3263) to try in order;
* the INVITE presents the caller id the flow set, else the trunk's (From user and
  P-Asserted-Identity, RFC 3325, which trusted carriers expect), from the trunk's domain,
  and answers a 401/407 with the trunk's account (uac.py);
* a target that times out or answers 503 before anything else is given up for the next
  one (RFC 3263 §4.3); any other refusal ends the attempt (a 486 from the callee is the
  callee's answer, not the server's failure);
* SRTP is offered and required as the trunk says (srtp.py; only over TLS);
* a 183 with SDP (early media: a carrier's ringback or announcement) is handed to
  `on_early_media`, so that the caller hears it before the answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from dipflow.channels.sip.digest_client import DigestAccount
from dipflow.channels.sip.driver import SipDriver
from dipflow.channels.sip.events import OutgoingAnswered, OutgoingFailed, OutgoingProgress
from dipflow.channels.sip.sdp import Negotiated
from dipflow.channels.sip.sessions import Session, SessionPool
from dipflow.channels.sip.srtp import (
    OurOffer,
    Secured,
    SrtpContext,
    accept_answer,
    call_policy,
    our_offer,
)
from dipflow.channels.sip.srtp import Refused as SrtpRefused
from dipflow.channels.sip.trunkconfig import TrunkSettings
from dipflow.channels.sip.trunks import Route, TrunkTable, registration_domain

log = logging.getLogger(__name__)

FAILOVER_STATUSES = frozenset({408, 503})
"""No answer from the server, or the server is unavailable: try the next target."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Answered:
    leg_id: str
    negotiated: Negotiated
    trunk: TrunkSettings | None
    srtp: SrtpContext | None = None
    """Set when the leg's media is SRTP (give it to the session)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NotAnswered:
    status: int
    """The final status (408: no answer in time, 404: no route, 488: no common codec)."""
    reason: str


EarlyMedia = Callable[[str, Negotiated, SrtpContext | None], None]
"""`(leg id, the far end's early session, its SRTP context if any)`."""


class OutboundCalls:
    """Places calls and waits for their outcome (events routed here by the server)."""

    def __init__(self, *, driver: SipDriver, sessions: SessionPool, trunks: TrunkTable) -> None:
        self.driver = driver
        self.sessions = sessions
        self.trunks = trunks
        self._waiting: dict[str, asyncio.Future[OutgoingAnswered | OutgoingFailed]] = {}
        self._early: dict[str, EarlyMedia] = {}
        self._offers: dict[str, OurOffer] = {}

    def can_dial(self, destination: str | None) -> bool:
        """Whether `destination` is something this places: a number or `tel:` URI (with
        an outbound trunk), a `sip:NUMBER@TRUNK`, or a SIP URI naming a host by name."""
        if not destination:
            return False
        text = destination.strip()
        lowered = text.lower()
        if lowered.startswith(("sip:", "sips:")):
            return True
        if lowered.startswith("tel:") or text.lstrip("+").isdigit():
            return self.trunks.outbound_trunk() is not None or ";trunk=" in lowered
        return False

    async def place(
        self,
        destination: str,
        *,
        session: Session,
        caller_id: str | None = None,
        caller_name: str | None = None,
        ring_timeout_s: float = 60.0,
        on_early_media: EarlyMedia | None = None,
        on_leg: Callable[[str], None] | None = None,
    ) -> Answered | NotAnswered:
        """Ring `destination` with `session` as our media; `on_leg` is told each leg id
        as it is placed (so the caller can hang it up if it goes away meanwhile)."""
        try:
            route = await self.trunks.route(destination)
        except LookupError as exc:
            log.warning("cannot call %r: %s", destination, exc)
            return NotAnswered(status=404, reason=str(exc))
        outcome: Answered | NotAnswered = NotAnswered(status=503, reason="no target")
        loop = self.driver.loop
        deadline = loop.time() + ring_timeout_s
        for index, target in enumerate(route.targets):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            leg_id = self._invite(route, target.address, target.port, target.transport,
                                  target.host, session, caller_id, caller_name)  # fmt: skip
            if on_leg is not None:
                on_leg(leg_id)
            if on_early_media is not None:
                self._early[leg_id] = on_early_media
            outcome = await self._outcome(leg_id, remaining, route.trunk)
            if isinstance(outcome, Answered) or outcome.status not in FAILOVER_STATUSES:
                return outcome
            if index + 1 < len(route.targets):
                log.warning("call to %s: %s:%s gave %s, trying the next target", destination,
                            target.address, target.port, outcome.status)  # fmt: skip
        return outcome

    def _invite(
        self,
        route: Route,
        address: str,
        port: int,
        transport: str,
        server_name: str,
        session: Session,
        caller_id: str | None,
        caller_name: str | None,
    ) -> str:
        trunk = route.trunk
        ua = self.driver.ua
        if transport == "tls":
            self.driver.tls.expect((address, port), server_name, trunk.tls if trunk else None)
        number = caller_id or (trunk.caller_id if trunk else None) or "anonymous"
        name = caller_name or (trunk.caller_name if trunk else None) or ""
        from_host = registration_domain(trunk) if trunk else None
        local_host = trunk.public_host if trunk else None
        headers: list[tuple[str, str]] = []
        if trunk is not None and number != "anonymous":
            headers.append(("P-Asserted-Identity", f"<sip:{number}@{from_host}>"))
        credentials = trunk.credentials if trunk else None
        auth = (
            DigestAccount(username=credentials.digest_user,
                          password=credentials.password.get_secret_value(),
                          realm=credentials.realm)
            if credentials is not None else None
        )  # fmt: skip
        tls = self.driver.settings.tls
        policy = call_policy(trunk.srtp if trunk else None, tls.srtp if tls else None, transport)
        security = our_offer(policy, secure_transport=transport == "tls")
        sdp = self.sessions.offer(session, security, address=local_host,
                                  codecs=trunk.codecs if trunk else None)  # fmt: skip
        leg_id = ua.call_out(
            target_uri=route.request_uri, destination=(address, port), transport=transport,
            sdp=sdp, now=self.driver.now(), from_user=number,
            from_host=from_host, display=name, headers=headers, auth=auth,
            local_host=local_host,
        )  # fmt: skip
        self._offers[leg_id] = security
        self.driver.flush()
        return leg_id

    async def _outcome(
        self, leg_id: str, timeout_s: float, trunk: TrunkSettings | None
    ) -> Answered | NotAnswered:
        waiter: asyncio.Future[OutgoingAnswered | OutgoingFailed] = self.driver.loop.create_future()
        self._waiting[leg_id] = waiter
        try:
            event = await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            self.hang_up(leg_id)
            return NotAnswered(status=408, reason="no answer in time")
        finally:
            self._waiting.pop(leg_id, None)
            self._early.pop(leg_id, None)
            offer = self._offers.pop(leg_id, None)
        if isinstance(event, OutgoingFailed):
            return NotAnswered(status=event.status, reason=f"refused with {event.status}")
        negotiated = self.sessions.negotiate(event.body, trunk.codecs if trunk else None)
        if negotiated is None:
            self.hang_up(leg_id)
            return NotAnswered(status=488, reason="the answer has no codec we can use")
        security = accept_answer(offer, negotiated.crypto) if offer is not None else None
        if isinstance(security, SrtpRefused):
            self.hang_up(leg_id)
            return NotAnswered(status=488, reason=security.reason)
        srtp = security.context if isinstance(security, Secured) else None
        return Answered(leg_id=leg_id, negotiated=negotiated, trunk=trunk, srtp=srtp)

    def hang_up(self, leg_id: str) -> None:
        self.driver.ua.hangup(leg_id, self.driver.now())  # CANCEL while ringing, else BYE
        self.driver.flush()

    # -- events from the server ---------------------------------------------------------

    def on_outgoing(self, event: OutgoingAnswered | OutgoingFailed) -> bool:
        """Whether the event was about one of our legs."""
        waiter = self._waiting.get(event.leg_id)
        if waiter is None:
            return False
        if not waiter.done():
            waiter.set_result(event)
        return True

    def on_progress(self, event: OutgoingProgress) -> None:
        callback = self._early.get(event.leg_id)
        if callback is None or not event.body:
            return
        negotiated = self.sessions.negotiate(event.body)
        offer = self._offers.get(event.leg_id)
        if negotiated is None or offer is None:
            return
        security = accept_answer(offer, negotiated.crypto)
        if isinstance(security, SrtpRefused):
            return  # no usable key in the early answer: wait for the real one
        callback(event.leg_id, negotiated,
                 security.context if isinstance(security, Secured) else None)  # fmt: skip
