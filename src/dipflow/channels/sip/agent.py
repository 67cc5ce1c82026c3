"""The SIP user agent, sans-IO (RFC 3261 transactions and dialogs, RFC 3581, RFC 6026).

Layer 4 (channels).

Drive it like h11/aioquic: feed bytes with `receive_datagram(data, source, now)`
(a UDP datagram or one framed TCP message) and get `SipEvent`s back; collect
what to send with `take_outgoing()`; call `handle_timer(now)` at
`next_deadline()`. It never reads a clock or touches a socket.

As a UAS it answers INVITEs (100 Trying at once, the final answer from the
driver), retransmits 2xx until the ACK (§13.3.1.4) and non-2xx per timer G/H,
handles CANCEL (§9.2), BYE, re-INVITE, OPTIONS and REGISTER. As a UAC it places
INVITEs (timers A/B/D), ACKs, CANCELs and BYEs. Responses go to the source
address of the request (RFC 3581 `rport`), which also makes reflection to a
third party impossible; garbage is never answered.
"""

from __future__ import annotations

import heapq

from dipflow.channels.sip import reliable, session_timer
from dipflow.channels.sip.builders import (
    ALLOW,
    MAGIC_COOKIE,
    WARN_INCOMPATIBLE_MEDIA,
)
from dipflow.channels.sip.core import new_token
from dipflow.channels.sip.digits import (
    INFO_CONTENT_TYPES,
    InfoBodyError,
    digit_of_info,
    is_dtmf_info,
)
from dipflow.channels.sip.events import (
    Address,
    AgentRegistered,
    CallCancelled,
    CallConfirmed,
    CallTerminated,
    IncomingCall,
    InfoDigit,
    ReOffer,
    ReofferAcked,
    SipEvent,
)
from dipflow.channels.sip.extensions import ExtensionsSide
from dipflow.channels.sip.message import (
    NameAddr,
    SipMessage,
    SipParseError,
    Via,
    parse_message,
)
from dipflow.channels.sip.timers import SipTimer
from dipflow.channels.sip.transactions import (
    Leg,
    LegState,
    ServerKey,
    ServerTransaction,
    TxState,
)
from dipflow.channels.sip.transitions import TxInput


def _methods(request: SipMessage) -> frozenset[str]:
    """The methods a request's Allow headers list (upper case)."""
    return frozenset(
        m.strip().upper() for value in request.headers.get_all("Allow") for m in value.split(",")
    ) - {""}


class SipUserAgent(ExtensionsSide):
    def receive_datagram(
        self, data: bytes, source: Address, now: float, transport: str = "udp"
    ) -> list[SipEvent]:
        """Process one message from `source`; returns the events it caused."""
        self._now = now
        self._fresh_tx = None
        ip = source[0]
        blocked_until = self._penalty.get(ip)
        if blocked_until is not None:
            if now < blocked_until:
                self.stats["penalised"] += 1
                return []
            del self._penalty[ip]
        self.guard.received(ip, len(data))
        if not data.strip(b"\r\n"):
            return []  # keep-alive (RFC 5626 §3.5.1); nothing to answer over UDP
        if len(data) > self.settings.max_message_bytes:
            self.stats["oversized"] += 1
            self._garbage(ip, now)
            return []
        try:
            message = parse_message(data, max_size=self.settings.max_message_bytes)
            if message.is_request:
                self._on_request(message, source, transport, now)
            else:
                self._on_response(message, source, now)
        except SipParseError:
            self._garbage(ip, now)
            fresh = self._server_tx.get(self._fresh_tx) if self._fresh_tx else None
            if fresh is not None and fresh.last_response is None:
                del self._server_tx[fresh.key]  # malformed past the Via: keep no state for it
        return self._take_events()

    def handle_timer(self, now: float) -> list[SipEvent]:
        self._now = now
        while self._heap and self._heap[0][0] <= now:
            when, _, record, timer = heapq.heappop(self._heap)
            if not self._timer_live(record, timer, when):
                continue
            del record.timers[timer]
            self._fire(record, timer, now)
        return self._take_events()

    # UAS side -------------------------------------------------------------------

    def ringing(self, leg_id: str) -> None:
        leg = self.legs.get(leg_id)
        if leg is None or leg.state is not LegState.EARLY or not leg.uas:
            return
        tx = self._invite_tx(leg)
        if tx is None:
            return
        response = self._response(leg.invite, 180, to_tag=leg.local_tag, contact=True)
        if leg.reliable:
            self._send_reliable(leg, tx, response)
        else:
            self._respond_tx(tx, response)

    def answer(self, leg_id: str, sdp: bytes, now: float) -> None:
        """Send 200 OK with our SDP answer and retransmit it until the ACK."""
        self._now = now
        leg = self.legs.get(leg_id)
        if leg is None or not leg.uas or leg.state is not LegState.EARLY:
            return
        tx = self._invite_tx(leg)
        if tx is None:
            return
        self._stop_reliable(leg)  # the final response ends the provisional's retransmissions
        response = self._response(leg.invite, 200, to_tag=leg.local_tag, contact=True, body=sdp)
        for route in leg.invite.headers.get_all("Record-Route"):  # §12.1.1
            response.headers.add("Record-Route", route)
        self._stamp_2xx(response, leg.pending_timer, leg.invite)
        leg.state = LegState.ANSWERED
        leg.local_sdp = sdp
        self._dialogs[(leg.call_id, leg.local_tag, leg.remote_tag or "")] = leg.leg_id
        self._send_2xx(leg, tx, response, now)
        self._apply_timer(leg, leg.pending_timer)

    def reject(
        self, leg_id: str, status: int, now: float, *, warning: tuple[int, str] | None = None
    ) -> None:
        """Refuse a new call; `warning`: (code, text) for a Warning header (§20.43), e.g.
        (305, "Incompatible media format") with a 488."""
        self._now = now
        leg = self.legs.get(leg_id)
        if leg is None or not leg.uas or leg.state is not LegState.EARLY:
            return
        self._stop_reliable(leg)
        tx = self._invite_tx(leg)
        if tx is not None:
            response = self._response(leg.invite, status, to_tag=leg.local_tag)
            if warning is not None:
                code, text = warning
                text = text.replace("\\", "").replace('"', "'")
                response.headers.add("Warning", f'{code} {self.host}:{self.port} "{text}"')
                if code == WARN_INCOMPATIBLE_MEDIA:
                    self.counts["codec_mismatches"] += 1
            self._respond_tx(tx, response, now)
        self._end_leg(leg)

    def answer_reoffer(self, leg_id: str, sdp: bytes | None, now: float) -> None:
        """Answer a re-INVITE: 200 with `sdp`, or 488 when it cannot be served."""
        self._now = now
        leg = self.legs.get(leg_id)
        if leg is None or leg.reoffer_tx is None:
            return
        tx = self._server_tx.get(leg.reoffer_tx)
        leg.reoffer_tx = None
        if tx is None:
            return
        if sdp is None:
            self._respond_tx(tx, self._response(tx.request, 488, to_tag=leg.local_tag), now)
            return
        response = self._response(tx.request, 200, to_tag=leg.local_tag, contact=True, body=sdp)
        self._stamp_2xx(response, leg.pending_timer, tx.request)
        leg.local_sdp = sdp
        if tx.is_invite:
            self._send_2xx(leg, tx, response, now)
        else:  # an UPDATE (RFC 3311): a plain non-INVITE answer
            self._respond_tx(tx, response, now)
        self._apply_timer(leg, leg.pending_timer)

    # UAC side -------------------------------------------------------------------

    def hangup(self, leg_id: str, now: float) -> None:
        """End a leg whatever its state: BYE, CANCEL (UAC, ringing) or 480 (UAS, unanswered)."""
        self._now = now
        leg = self.legs.get(leg_id)
        if leg is None or leg.state is LegState.TERMINATED:
            return
        if leg.uas:
            if leg.state is LegState.EARLY:
                self.reject(leg_id, 480, now)
                return
            if leg.state is LegState.ANSWERED:
                leg.bye_pending = True  # §15: no BYE before the ACK (or its timeout)
                return
            self._send_bye(leg, now)
            return
        if leg.state is LegState.EARLY:
            if leg.provisional_seen:
                self._send_cancel(leg, now)
            else:
                leg.cancel_pending = True  # §9.1: CANCEL only after a provisional response
            return
        self._send_bye(leg, now)

    def _on_request(self, request: SipMessage, source: Address, transport: str, now: float) -> None:
        via = request.top_via
        method = request.method or ""
        key = self._server_key(request, via, method)
        if method == "ACK":
            self._on_ack(request, key, source)
            return
        existing = self._server_tx.get(key)
        if existing is not None:  # a retransmission: repeat our last response (§17.2.1)
            self.step_tx(existing, TxInput.REQUEST)
            return
        if len(self._server_tx) >= self.settings.max_transactions:
            self.stats["overload_drops"] += 1  # stateless shedding: no state, no answer
            return
        if method == "CANCEL":
            self._on_cancel(request, key, source, transport, now)
            return
        to_tag = NameAddr.parse(request.headers.get("To") or "").tag
        from_tag = NameAddr.parse(request.headers.get("From") or "").tag or ""
        if to_tag:
            leg_id = self._dialogs.get((request.call_id, to_tag, from_tag))
            leg = self.legs.get(leg_id) if leg_id else None
            tx = self._new_server_tx(key, request, source, transport, now)
            if leg is None:
                self._respond_tx(tx, self._response(request, 481), now)  # §12.2.2
                return
            self.guard.verify(source[0])  # it echoed our tag: it receives what we send
            self._in_dialog(leg, tx, request, now)
            return
        tx = self._new_server_tx(key, request, source, transport, now)
        if method == "INVITE":
            self._new_call(tx, request, source, transport, from_tag, now)
        elif method == "OPTIONS":
            response = self._response(request, 200, to_tag=new_token(6))
            response.headers.add("Allow", ALLOW)
            response.headers.add("Accept", "application/sdp")
            response.headers.add("Supported", reliable.SUPPORTED)
            self._respond_tx(tx, response, now)
        elif method == "REGISTER":
            self._on_register(tx, request, source, transport, now)
        elif method == "BYE":
            self._respond_tx(tx, self._response(request, 481), now)
        else:
            response = self._response(request, 405, to_tag=new_token(6))
            response.headers.add("Allow", ALLOW)
            self._respond_tx(tx, response, now)

    @staticmethod
    def _server_key(request: SipMessage, via: Via, method: str) -> ServerKey:
        branch = via.branch
        if not branch.startswith(MAGIC_COOKIE):  # RFC 2543 peer: no unique branch
            branch = f"{request.call_id}|{request.cseq[0]}|{request.headers.get('From')}"
        tx_method = "INVITE" if method in ("ACK", "CANCEL") else method
        if method == "CANCEL":
            tx_method = "CANCEL"
        return (branch, via.host, via.port, tx_method)

    def _new_call(
        self,
        tx: ServerTransaction,
        request: SipMessage,
        source: Address,
        transport: str,
        from_tag: str,
        now: float,
    ) -> None:
        if not self.invite_limiter.allow(source[0], now):
            self.stats["rate_limited"] += 1
            del self._server_tx[tx.key]  # drop silently: do not feed a flood
            return
        if not from_tag:
            self._respond_tx(tx, self._response(request, 400, to_tag=new_token(6)), now)
            return
        for leg in self.legs.values():  # §8.2.2.2 merged request, or a fork loop
            if leg.uas and leg.call_id == request.call_id and leg.remote_tag == from_tag:
                self._respond_tx(tx, self._response(request, 482, to_tag=new_token(6)), now)
                return
        required = session_timer.options(request, "Require")
        unknown = required - reliable.KNOWN
        if unknown:  # §8.2.2.3: name what we do not support
            response = self._response(request, 420, to_tag=new_token(6))
            response.headers.add("Unsupported", ", ".join(sorted(unknown)))
            response.headers.add("Supported", reliable.SUPPORTED)
            self._respond_tx(tx, response, now)
            return
        accepted, timer = self._negotiate_timer(tx, request)
        if not accepted:
            return
        active = sum(1 for leg in self.legs.values() if leg.state is not LegState.TERMINATED)
        if active >= self.settings.max_calls:
            self._respond_tx(tx, self._response(request, 503, to_tag=new_token(6)), now)
            return
        contact_values = request.headers.get_all("Contact")
        if not contact_values:
            self._respond_tx(tx, self._response(request, 400, to_tag=new_token(6)), now)
            return
        remote_target = NameAddr.parse(contact_values[0]).uri
        local_tag = new_token(6)
        leg = Leg(
            leg_id=new_token(), uas=True, call_id=request.call_id, local_tag=local_tag,
            remote_tag=from_tag,
            local_party=f"{request.headers.get('To')};tag={local_tag}",
            remote_party=request.headers.get("From") or "",
            remote_target=remote_target,
            route_set=list(request.headers.get_all("Record-Route")),
            peer=source, transport=transport, invite=request, invite_tx=tx.key,
            remote_cseq=request.cseq[0],
        )  # fmt: skip
        leg.reliable = reliable.OPTION in required
        leg.pending_timer = timer
        leg.peer_methods = _methods(request)
        tx.leg_id = leg.leg_id
        self.legs[leg.leg_id] = leg
        self.counts["calls_inbound"] += 1
        self._respond_tx(tx, self._response(request, 100), now)
        self._events.append(
            IncomingCall(leg_id=leg.leg_id, request=request, source=source, transport=transport)
        )

    def _in_dialog(self, leg: Leg, tx: ServerTransaction, request: SipMessage, now: float) -> None:
        method = request.method
        cseq = request.cseq[0]
        if cseq <= leg.remote_cseq and method != "ACK":  # §12.2.2: out of order
            self._respond_tx(tx, self._response(request, 500), now)
            return
        leg.remote_cseq = cseq
        if method == "PRACK":
            self._on_prack(leg, tx, request)
        elif method == "BYE":
            invite_tx = self._invite_tx(leg) if leg.state is LegState.EARLY else None
            if invite_tx is not None:  # an early dialog (100rel) ends: its INVITE too
                self._respond_tx(invite_tx, self._response(leg.invite, 487,
                                                           to_tag=leg.local_tag))  # fmt: skip
            self._respond_tx(tx, self._response(request, 200), now)
            was_live = leg.state is not LegState.TERMINATED
            self._end_leg(leg)
            if was_live:
                self._events.append(CallTerminated(leg_id=leg.leg_id, reason="bye"))
        elif method == "INVITE":
            if leg.reoffer_tx is not None or leg.state is LegState.ANSWERED:
                self._respond_tx(tx, self._response(request, 491), now)  # §14.2
                return
            accepted, leg.pending_timer = self._negotiate_timer(tx, request)
            if not accepted:
                return
            contact = request.headers.get("Contact")
            if contact:
                leg.remote_target = NameAddr.parse(contact).uri  # §12.2.2 target refresh
            leg.peer_methods = _methods(request) or leg.peer_methods
            tx.leg_id = leg.leg_id
            leg.reoffer_tx = tx.key
            self._events.append(ReOffer(leg_id=leg.leg_id, body=request.body))
        elif method == "UPDATE" and leg.state is LegState.CONFIRMED:
            self._on_update(leg, tx, request)
        elif method == "INFO":
            self._on_info(leg, tx, request, now)
        elif method == "OPTIONS":
            self._respond_tx(tx, self._response(request, 200), now)
        else:
            self._other_in_dialog(leg, tx, request, now)  # uac.py: NOTIFY, else 405

    def _on_update(self, leg: Leg, tx: ServerTransaction, request: SipMessage) -> None:
        """UPDATE (RFC 3311): a session refresh (no body), or a new offer answered like a
        re-INVITE's, without the ACK."""
        if leg.reoffer_tx is not None:
            self._respond_tx(tx, self._response(request, 491))  # RFC 3311 §5.2
            return
        accepted, leg.pending_timer = self._negotiate_timer(tx, request)
        if not accepted:
            return
        if request.body:
            tx.leg_id = leg.leg_id
            leg.reoffer_tx = tx.key
            self._events.append(ReOffer(leg_id=leg.leg_id, body=request.body))
            return
        response = self._response(request, 200, contact=True)
        self._stamp_2xx(response, leg.pending_timer, request)
        self._respond_tx(tx, response)
        self._apply_timer(leg, leg.pending_timer)

    def _on_info(self, leg: Leg, tx: ServerTransaction, request: SipMessage, now: float) -> None:
        """Key presses as INFO are taken; any other INFO with a body is refused (415), so the
        sender knows it was not understood and can fall back (RFC 6086 §4.2.2, §21.4.13)."""
        content_type = request.headers.get("Content-Type")
        if not request.body.strip():
            self._respond_tx(tx, self._response(request, 200), now)  # an empty INFO: a probe
        elif not is_dtmf_info(content_type):
            response = self._response(request, 415)
            response.headers.add("Accept", ", ".join(INFO_CONTENT_TYPES))
            self._respond_tx(tx, response, now)
        else:
            try:
                digit = digit_of_info(content_type, request.body)
            except InfoBodyError:
                self._respond_tx(tx, self._response(request, 400), now)
                return
            self._respond_tx(tx, self._response(request, 200), now)
            self._events.append(InfoDigit(leg_id=leg.leg_id, digit=digit))

    def _on_ack(self, request: SipMessage, key: ServerKey, source: Address) -> None:
        tx = self._server_tx.get(key)
        if tx is not None and self.step_tx(tx, TxInput.ACK):  # ACK of a non-2xx (§17.2.1)
            return
        to_tag = NameAddr.parse(request.headers.get("To") or "").tag or ""
        from_tag = NameAddr.parse(request.headers.get("From") or "").tag or ""
        leg_id = self._dialogs.get((request.call_id, to_tag, from_tag))
        leg = self.legs.get(leg_id) if leg_id else None
        if leg is None or leg.ok_response is None:
            return
        self.guard.verify(source[0])
        leg.ok_response = None
        leg.timers.pop(SipTimer.RETRANSMIT_2XX, None)
        leg.timers.pop(SipTimer.ACK_TIMEOUT, None)
        if leg.state is LegState.ANSWERED:
            leg.state = LegState.CONFIRMED
            self._events.append(CallConfirmed(leg_id=leg.leg_id, body=request.body))
            if leg.bye_pending:
                self._send_bye(leg, self._now)
        else:  # the ACK of our 2xx to a re-INVITE
            self._events.append(ReofferAcked(leg_id=leg.leg_id, body=request.body))

    def _on_cancel(
        self, request: SipMessage, key: ServerKey, source: Address, transport: str, now: float
    ) -> None:
        cancel_tx = self._new_server_tx(key, request, source, transport, now)
        invite_key = (key[0], key[1], key[2], "INVITE")
        invite_tx = self._server_tx.get(invite_key)
        if invite_tx is None:
            self._respond_tx(cancel_tx, self._response(request, 481), now)
            return
        leg = self.legs.get(invite_tx.leg_id or "")
        to_tag = leg.local_tag if leg else new_token(6)
        self._respond_tx(cancel_tx, self._response(request, 200, to_tag=to_tag), now)
        if invite_tx.state is TxState.PROCEEDING and leg is not None:
            self._respond_tx(
                invite_tx, self._response(invite_tx.request, 487, to_tag=leg.local_tag), now
            )
            self._end_leg(leg)
            self._events.append(CallCancelled(leg_id=leg.leg_id))

    def _on_register(
        self,
        tx: ServerTransaction,
        request: SipMessage,
        source: Address,
        transport: str,
        now: float,
    ) -> None:
        user = self.registrar.authenticate(request, now)
        if user is None:
            response = self._response(request, 401, to_tag=new_token(6))
            response.headers.add("WWW-Authenticate", self.registrar.challenge(now))
            self.counts["registrations_challenged"] += 1
            self._respond_tx(tx, response, now)
            return
        self.counts["registrations"] += 1
        self.guard.verify(source[0])
        contacts = self.registrar.register(request, user, source, transport, now)
        response = self._response(request, 200, to_tag=new_token(6))
        for contact in contacts:
            response.headers.add("Contact", contact)
        self._respond_tx(tx, response, now)
        if contacts:
            self._events.append(AgentRegistered(user=user, contact=contacts[0]))
