"""The user agent's SIP extensions: 100rel and PRACK (RFC 3262), session timers and their
refreshes (RFC 4028, UPDATE of RFC 3311). Layer 4 (channels).

A layer between the client side (`RequestSide`, uac.py) and the UAS side (agent.py): one
object at run time, split for size. The rules themselves are sans-IO helpers in
`reliable.py` and `session_timer.py`; this module keeps each dialog's state and timers.
"""

from __future__ import annotations

from dipflow.channels.sip import reliable, session_timer
from dipflow.channels.sip.core import new_token
from dipflow.channels.sip.events import CallTerminated
from dipflow.channels.sip.message import SipMessage
from dipflow.channels.sip.routing import next_hop
from dipflow.channels.sip.session_timer import SessionTimer, TooSmall
from dipflow.channels.sip.timers import SipTimer
from dipflow.channels.sip.transactions import (
    ClientTransaction,
    Leg,
    LegState,
    ServerTransaction,
)
from dipflow.channels.sip.uac import RequestSide

_REFRESH_FATAL = frozenset({408, 481})
"""RFC 4028 §10: a refresh answered so (or timed out) ends the session with a BYE."""


class ExtensionsSide(RequestSide):
    # -- 100rel (RFC 3262) --------------------------------------------------------------------

    def _send_reliable(self, leg: Leg, tx: ServerTransaction, response: SipMessage) -> None:
        """Send a provisional reliably: RSeq, retransmitted until its PRACK."""
        if leg.unacked_1xx is not None:
            return  # §3: not a second one before the first is acknowledged
        leg.rseq = reliable.first_rseq() if leg.rseq == 0 else leg.rseq + 1
        reliable.stamp(response, leg.rseq)
        self._respond_tx(tx, response)
        leg.unacked_1xx = tx.last_response
        # The PRACK is sent within the early dialog our To tag opened (§4).
        self._dialogs[(leg.call_id, leg.local_tag, leg.remote_tag or "")] = leg.leg_id
        self._start_timer(leg, SipTimer.RELIABLE_1XX)
        self._start_timer(leg, SipTimer.PRACK_TIMEOUT)

    def _stop_reliable(self, leg: Leg) -> None:
        leg.unacked_1xx = None
        leg.timers.pop(SipTimer.RELIABLE_1XX, None)
        leg.timers.pop(SipTimer.PRACK_TIMEOUT, None)

    def _on_prack(self, leg: Leg, tx: ServerTransaction, request: SipMessage) -> None:
        if leg.unacked_1xx is not None and reliable.acknowledges(
            request, rseq=leg.rseq, invite=leg.invite
        ):
            self._stop_reliable(leg)
            self._respond_tx(tx, self._response(request, 200))
            return
        self._respond_tx(tx, self._response(request, 481))  # §3: no such provisional

    # -- session timers (RFC 4028) ------------------------------------------------------------

    def _negotiate_timer(
        self, tx: ServerTransaction, request: SipMessage
    ) -> tuple[bool, SessionTimer | None]:
        """Negotiate `request`'s session timer for its 2xx: (False, None) when it was
        refused (422 with our Min-SE, §9: the UAC retries with a larger interval)."""
        settings = self.settings
        result = session_timer.negotiate(
            request,
            min_se=settings.session_min_se_s,
            default_interval=settings.session_expires_s,
        )
        if isinstance(result, TooSmall):
            response = self._response(request, 422, to_tag=new_token(6))
            response.headers.add("Min-SE", str(result.min_se))
            self._respond_tx(tx, response)
            return False, None
        return True, result

    def _stamp_2xx(
        self, response: SipMessage, timer: SessionTimer | None, request: SipMessage
    ) -> None:
        # Our extensions, to a peer that names any of its own (an old phone does not care,
        # and an unproven caller's 2xx must fit its amplification budget).
        if request.headers.get("Supported") or request.headers.get("Require"):
            response.headers.add("Supported", reliable.SUPPORTED)
        if timer is not None:
            session_timer.stamp(response, timer)

    def _apply_timer(self, leg: Leg, timer: SessionTimer | None) -> None:
        """A 2xx was sent with `timer` (None: off): (re)start the dialog's session timer."""
        leg.session_timer = timer
        leg.timers.pop(SipTimer.SESSION_REFRESH, None)
        leg.timers.pop(SipTimer.SESSION_EXPIRY, None)
        if timer is None:
            return
        if timer.we_refresh:
            self._start_timer(leg, SipTimer.SESSION_REFRESH, delay=timer.refresh_after())
        else:
            self._start_timer(leg, SipTimer.SESSION_EXPIRY, delay=timer.expires_after())

    def _send_refresh(self, leg: Leg, timer: SessionTimer) -> None:
        """Refresh the session (§7.4): UPDATE without a body when the peer allows it, else a
        re-INVITE repeating our session description unchanged."""
        method = "UPDATE" if "UPDATE" in leg.peer_methods else "INVITE"
        hop = next_hop(leg)  # the route set, else the remote target (RFC 3261 §12.2.1.1)
        request = self._in_dialog_request(leg, method, transport=hop.transport)
        request.headers.add("Contact", self._contact(hop.transport))
        session_timer.refresh_headers(request, timer, min_se=self.settings.session_min_se_s)
        if method == "INVITE":
            request.headers.add("Content-Type", "application/sdp")
            request.body = leg.local_sdp
        self.counts["session_refreshes"] += 1
        self._start_client_tx(
            request, hop.destination, hop.transport, leg.leg_id, self._now, hop.fallback
        )
        # The next one, whatever this one's fate (a failure that ends the session says so).
        self._start_timer(leg, SipTimer.SESSION_REFRESH, delay=timer.refresh_after())

    def _refresh_response(self, leg: Leg, tx: ClientTransaction, response: SipMessage) -> None:
        """The answer to our refresh: a 2xx to a re-INVITE is ACKed (§13.2.2.4); 408/481
        end the session (§10); other failures leave it to the next refresh."""
        status = response.status or 0
        if status < 200:
            return
        if status < 300:
            if tx.is_invite:
                hop = next_hop(leg)
                ack = self._in_dialog_request(
                    leg, "ACK", transport=hop.transport, cseq=tx.request.cseq[0]
                )
                leg.ack = ack.to_bytes()
                self._send(leg.ack, hop.destination, hop.transport, hop.fallback)
            return
        if status in _REFRESH_FATAL:
            self._session_over(leg, "session-refresh-failed")

    def _refresh_timed_out(self, leg: Leg) -> None:
        self._session_over(leg, "session-refresh-failed")

    def _session_over(self, leg: Leg, reason: str) -> None:
        if leg.state is LegState.TERMINATED or leg.leg_id not in self.legs:
            return
        self._send_bye(leg, self._now)
        self._events.append(CallTerminated(leg_id=leg.leg_id, reason=reason))

    # -- their timers -------------------------------------------------------------------------

    def _extension_timer(self, leg: Leg, timer: SipTimer, now: float) -> None:
        if timer is SipTimer.RELIABLE_1XX and leg.unacked_1xx is not None:
            self.counts["retransmitted_responses"] += 1
            self._send(leg.unacked_1xx, leg.peer, leg.transport)
            self._start_timer(leg, timer, fired=timer)
        elif timer is SipTimer.PRACK_TIMEOUT and leg.unacked_1xx is not None:
            # §3: no PRACK for 64*T1 - refuse the INVITE with a 5xx; the call ends.
            self._stop_reliable(leg)
            tx = self._invite_tx(leg)
            if leg.state is LegState.EARLY and tx is not None:
                self._respond_tx(tx, self._response(leg.invite, 504, to_tag=leg.local_tag))
                self._end_leg(leg)
                self._events.append(CallTerminated(leg_id=leg.leg_id, reason="no-prack"))
        elif timer is SipTimer.SESSION_REFRESH and leg.session_timer is not None:
            if leg.state is LegState.CONFIRMED:
                self._send_refresh(leg, leg.session_timer)
            else:  # a refresh must not cross a re-INVITE in progress: try again soon
                self._start_timer(leg, timer, delay=self.timing.t1)
        elif timer is SipTimer.SESSION_EXPIRY and leg.session_timer is not None:
            self.counts["sessions_expired"] += 1
            self._session_over(leg, "session-expired")
