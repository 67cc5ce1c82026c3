"""Blind transfer of a caller (the Blind Transfer activity). Layer 4 (channels).

`Transfers.blind(call, destination)` hands the caller over, and says how it ended:

1. **REFER** (RFC 3515) when the caller's side can do it (its INVITE's `Allow` lists REFER,
   or says nothing) and the destination is something it can reach: a SIP URI, or a number
   on a call that came in through a trunk (the carrier routes it: `sip:NUMBER@domain`).
   A 202 is followed by NOTIFYs whose `message/sipfrag` body tells the progress of the
   caller's new call (§2.4.5): a 2xx means done, and we end our leg (BYE); a final error
   (486, 404...) means the caller is still with us and the activity takes its error path.
   No final NOTIFY within `NOTIFY_TIMEOUT_S` is an error too (never silence).
2. **A bridged leg** when REFER is refused (405, 501, 403, a timeout...) or cannot be
   used: we call the destination ourselves (outbound.py: trunk or DNS, caller id, digest)
   and relay the caller's audio to it, as for an agent. Early media (a 183 with SDP:
   ringback, an announcement) is relayed to the caller while it rings. Once answered, the
   IVR leaves: the legs stay bridged until either side hangs up.

The caller is never left in silence: on any failure the legs are as before (whatever the
IVR was playing goes on) and the flow continues with the activity's error output.
"""

from __future__ import annotations

import asyncio
import logging

from dipflow.channels.seam import AgentEndpoint, TransferResult
from dipflow.channels.sip.awaiting import Awaiting
from dipflow.channels.sip.bridge import AgentBridge
from dipflow.channels.sip.call import SipCall
from dipflow.channels.sip.driver import SipDriver
from dipflow.channels.sip.events import Notified
from dipflow.channels.sip.outbound import Answered, OutboundCalls
from dipflow.channels.sip.sdp import Negotiated
from dipflow.channels.sip.sessions import Session, SessionPool, relay
from dipflow.channels.sip.srtp import SrtpContext
from dipflow.channels.sip.transactions import LegState
from dipflow.channels.sip.trunkconfig import TrunkSettings
from dipflow.channels.sip.trunks import registration_domain

log = logging.getLogger(__name__)

NOTIFY_TIMEOUT_S = 45.0
"""How long the caller's side may take to report the outcome of its new call (below the
engine's 60 s guard on the activity)."""


class Transfers:
    def __init__(
        self,
        *,
        driver: SipDriver,
        sessions: SessionPool,
        awaiting: Awaiting,
        outbound: OutboundCalls,
        bridge: AgentBridge,
    ) -> None:
        self.driver = driver
        self.sessions = sessions
        self.awaiting = awaiting
        self.outbound = outbound
        self.bridge = bridge

    async def blind(
        self,
        call: SipCall,
        destination: str,
        *,
        caller_id: str | None,
        trunk: TrunkSettings | None,
    ) -> TransferResult:
        destination = destination.strip()
        if not destination:
            return TransferResult(ok=False, error="no destination")
        refer_to = self._refer_target(destination, trunk)
        if refer_to is not None and self._peer_accepts_refer(call):
            outcome = await self._refer(call, refer_to)
            if outcome is not None:
                return outcome
        return await self._bridged(call, destination, caller_id)

    # -- REFER -------------------------------------------------------------------------

    @staticmethod
    def _refer_target(destination: str, trunk: TrunkSettings | None) -> str | None:
        lowered = destination.lower()
        if lowered.startswith(("sip:", "sips:")):
            return destination
        if trunk is None:
            return None  # a number for a direct caller: only we can reach the carrier
        number = destination.removeprefix("tel:").split(";", 1)[0]
        return f"sip:{trunk.dial_string(number)}@{registration_domain(trunk)}"

    def _peer_accepts_refer(self, call: SipCall) -> bool:
        leg = self.driver.ua.legs.get(call.leg_id)
        if leg is None:
            return False
        allow = leg.invite.headers.get("Allow")
        if allow is None:
            return True  # not stated: ask (a refusal costs one round trip)
        return "REFER" in {method.strip().upper() for method in allow.split(",")}

    async def _confirmed(self, call: SipCall) -> bool:
        """Until the caller's ACK has confirmed the dialog (a flow may transfer the moment
        the call is answered; REFER needs a confirmed dialog). False if it never comes."""
        loop = self.driver.loop
        deadline = loop.time() + 64 * self.driver.settings.t1_s
        while loop.time() < deadline and not call.ended:
            leg = self.driver.ua.legs.get(call.leg_id)
            if leg is None:
                return False
            if leg.state is LegState.CONFIRMED:
                return True
            await asyncio.sleep(0.02)
        return False

    async def _refer(self, call: SipCall, refer_to: str) -> TransferResult | None:
        """The outcome, or None when REFER was refused (bridge instead)."""
        ua = self.driver.ua
        if not await self._confirmed(call):
            return None
        notifications = self.awaiting.listen(call.leg_id)
        try:
            done = await self.awaiting.request(
                lambda: ua.send_in_dialog(
                    call.leg_id, "REFER", self.driver.now(),
                    headers=[("Refer-To", f"<{refer_to}>"),
                             ("Referred-By", f"<sip:dipflow@{ua.host}>")],
                )
            )  # fmt: skip
            if done is None or done.status // 100 != 2:
                status = done.status if done is not None else "no dialog"
                log.info("REFER to %s refused (%s): bridging instead", refer_to, status)
                return None
            return await self._progress(call, notifications, refer_to)
        finally:
            self.awaiting.unlisten(call.leg_id)

    async def _progress(
        self, call: SipCall, notifications: asyncio.Queue[Notified], refer_to: str
    ) -> TransferResult:
        loop = self.driver.loop
        deadline = loop.time() + NOTIFY_TIMEOUT_S
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return TransferResult(ok=False, method="refer",
                                      error="no outcome reported by the caller's side")  # fmt: skip
            if call.ended:
                return TransferResult(ok=False, method="refer", error="the caller hung up")
            try:
                notified = await asyncio.wait_for(notifications.get(), min(remaining, 0.5))
            except TimeoutError:
                continue
            status = sipfrag_status(notified.body)
            if status is not None and 200 <= status < 300:
                log.info("call %s transferred to %s by REFER", call.leg_id, refer_to)
                call.control.end_call(call, notify=None)  # our leg is done (RFC 5589 §6.1)
                return TransferResult(ok=True, method="refer")
            if status is not None and status >= 300:
                return TransferResult(ok=False, method="refer",
                                      error=f"{refer_to} answered {status}")  # fmt: skip
            if notified.terminated:
                return TransferResult(ok=False, method="refer",
                                      error="the transfer ended without an answer")  # fmt: skip

    # -- bridging ------------------------------------------------------------------------

    async def _bridged(self, call: SipCall, destination: str, caller_id: str | None
                       ) -> TransferResult:  # fmt: skip
        if not self.outbound.can_dial(destination):
            error = f"{destination!r} cannot be reached (no outbound trunk)"
            return TransferResult(ok=False, method="bridge", error=error)
        session = await self.sessions.open()
        if session is None:
            return TransferResult(ok=False, method="bridge", error="no RTP port free")
        early: list[bool] = []

        def placed(leg_id: str) -> None:
            call.agent_leg_id = leg_id
            self.bridge.legs[leg_id] = call

        def early_media(_leg_id: str, negotiated: Negotiated, srtp: SrtpContext | None) -> None:
            if call.ended:
                return
            _relay_to_caller(self.sessions, call, session, negotiated, srtp, started=bool(early))
            early.append(True)

        outcome = await self.outbound.place(
            destination, session=session, caller_id=caller_id,
            ring_timeout_s=self.driver.settings.agent_ring_timeout_s,
            on_early_media=early_media, on_leg=placed,
        )  # fmt: skip
        if not isinstance(outcome, Answered) or call.ended:
            if call.session.bridge is session:  # the caller hears the IVR again
                relay(call.session, None)
            if call.agent_leg_id is not None:
                self.bridge.legs.pop(call.agent_leg_id, None)
                call.agent_leg_id = None
            if isinstance(outcome, Answered):
                self.outbound.hang_up(outcome.leg_id)
            self.sessions.close(session)
            reason = "the caller hung up" if call.ended else getattr(outcome, "reason", "")
            return TransferResult(ok=False, method="bridge", error=reason)
        session.srtp = outcome.srtp
        target = AgentEndpoint(agent_id="", display_name=destination, sip_uri=destination)
        self.bridge.connect_answered(call, target, session, outcome.negotiated, early=bool(early))
        log.info("call %s transferred to %s (bridged)", call.leg_id, destination)
        return TransferResult(ok=True, method="bridge")


def _relay_to_caller(
    sessions: SessionPool,
    call: SipCall,
    session: Session,
    negotiated: Negotiated,
    srtp: SrtpContext | None,
    *,
    started: bool,
) -> None:
    """Early media: what the far end sends goes to the caller; we send it nothing yet."""
    session.configure(negotiated)
    session.srtp = srtp
    relay(session, call.session)
    relay(call.session, session)
    if not started:
        sessions.start_pacing(session)


def sipfrag_status(body: bytes) -> int | None:
    """The status of a `message/sipfrag` status line (`SIP/2.0 180 Ringing`)."""
    first = body.split(b"\n", 1)[0].strip()
    parts = first.split()
    if len(parts) >= 2 and parts[0].upper() == b"SIP/2.0" and parts[1].isdigit():
        status = int(parts[1])
        return status if 100 <= status <= 699 else None
    return None
