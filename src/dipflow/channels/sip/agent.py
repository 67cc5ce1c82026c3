"""The SIP user agent, sans-IO (RFC 3261 transactions and dialogs, RFC 3581, RFC 6026).

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
import itertools
import secrets
from collections import OrderedDict

from dipflow.channels.sip.builders import (
    ALLOW,
    MAGIC_COOKIE,
    build_response,
    cancel_request,
    contact_header,
    in_dialog_request,
    non_2xx_ack,
    stamp_received,
)
from dipflow.channels.sip.events import (
    Address,
    AgentRegistered,
    CallCancelled,
    CallConfirmed,
    CallTerminated,
    IncomingCall,
    Outgoing,
    OutgoingAnswered,
    OutgoingFailed,
    OutgoingProgress,
    ReOffer,
    SipEvent,
)
from dipflow.channels.sip.message import (
    NameAddr,
    SipMessage,
    SipParseError,
    Via,
    parse_message,
)
from dipflow.channels.sip.protection import AmplificationGuard, RateLimiter
from dipflow.channels.sip.registrar import Registrar
from dipflow.channels.sip.settings import SipSettings
from dipflow.channels.sip.transactions import (
    ClientKey,
    ClientTransaction,
    Leg,
    LegState,
    ServerKey,
    ServerTransaction,
    TxState,
)


def _token(nbytes: int = 8) -> str:
    return secrets.token_hex(nbytes)


class SipUserAgent:
    """One SIP endpoint (all calls of a server). Not thread-safe: one event loop drives it."""

    def __init__(self, settings: SipSettings, *, local_port: int) -> None:
        self.settings = settings
        self.host = settings.public_host
        self.port = local_port
        self.t1, self.t2, self.t4 = settings.t1_s, settings.t2_s, settings.t4_s
        self.registrar = Registrar(
            realm=settings.realm,
            users={u: p.get_secret_value() for u, p in settings.registrar_users.items()},
            max_expires_s=settings.register_max_expires_s,
        )
        self.invite_limiter = RateLimiter(
            rate=settings.invite_rate_per_s, burst=settings.invite_burst,
            max_keys=settings.tracked_sources,
        )  # fmt: skip
        self.garbage_limiter = RateLimiter(
            rate=settings.garbage_rate_per_s, burst=settings.garbage_burst,
            max_keys=settings.tracked_sources,
        )  # fmt: skip
        self.guard = AmplificationGuard(
            factor=settings.amplification_factor, max_keys=settings.tracked_sources
        )
        self._penalty: OrderedDict[str, float] = OrderedDict()
        self._server_tx: dict[ServerKey, ServerTransaction] = {}
        self._client_tx: dict[ClientKey, ClientTransaction] = {}
        self.legs: dict[str, Leg] = {}
        self._dialogs: dict[tuple[str, str, str], str] = {}
        self._outgoing: list[Outgoing] = []
        self._events: list[SipEvent] = []
        self._heap: list[tuple[float, int, str, object, str]] = []
        self._counter = itertools.count()
        self.stats: dict[str, int] = {
            "garbage": 0, "penalised": 0, "rate_limited": 0, "amplification_drops": 0,
            "oversized": 0, "overload_drops": 0,
        }  # fmt: skip

    # ----------------------------------------------------------------- driver API

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

    def take_outgoing(self) -> list[Outgoing]:
        out, self._outgoing = self._outgoing, []
        return out

    def next_deadline(self) -> float | None:
        while self._heap:
            when, _, table, record, name = self._heap[0]
            if self._timer_live(table, record, name, when):
                return when
            heapq.heappop(self._heap)
        return None

    def handle_timer(self, now: float) -> list[SipEvent]:
        self._now = now
        while self._heap and self._heap[0][0] <= now:
            when, _, table, record, name = heapq.heappop(self._heap)
            if not self._timer_live(table, record, name, when):
                continue
            timers = record.timers  # type: ignore[attr-defined]
            del timers[name]
            if table == "server":
                assert isinstance(record, ServerTransaction)
                self._server_timer(record, name, now)
            elif table == "client":
                assert isinstance(record, ClientTransaction)
                self._client_timer(record, name, now)
            else:
                assert isinstance(record, Leg)
                self._leg_timer(record, name, now)
        return self._take_events()

    # UAS side -------------------------------------------------------------------

    def ringing(self, leg_id: str) -> None:
        leg = self.legs.get(leg_id)
        if leg is None or leg.state is not LegState.EARLY or not leg.uas:
            return
        tx = self._server_tx.get(leg.invite_tx)  # type: ignore[arg-type]
        if tx is not None:
            self._respond_tx(tx, self._response(leg.invite, 180, to_tag=leg.local_tag,
                                                contact=True))  # fmt: skip

    def answer(self, leg_id: str, sdp: bytes, now: float) -> None:
        """Send 200 OK with our SDP answer and retransmit it until the ACK."""
        self._now = now
        leg = self.legs.get(leg_id)
        if leg is None or not leg.uas or leg.state is not LegState.EARLY:
            return
        tx = self._server_tx.get(leg.invite_tx)  # type: ignore[arg-type]
        if tx is None:
            return
        response = self._response(leg.invite, 200, to_tag=leg.local_tag, contact=True, body=sdp)
        for route in leg.invite.headers.get_all("Record-Route"):  # §12.1.1
            response.headers.add("Record-Route", route)
        leg.state = LegState.ANSWERED
        self._dialogs[(leg.call_id, leg.local_tag, leg.remote_tag or "")] = leg.leg_id
        self._send_2xx(leg, tx, response, now)

    def reject(self, leg_id: str, status: int, now: float) -> None:
        self._now = now
        leg = self.legs.get(leg_id)
        if leg is None or not leg.uas or leg.state is not LegState.EARLY:
            return
        tx = self._server_tx.get(leg.invite_tx)  # type: ignore[arg-type]
        if tx is not None:
            self._final_error(tx, self._response(leg.invite, status, to_tag=leg.local_tag), now)
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
            self._final_error(tx, self._response(tx.request, 488, to_tag=leg.local_tag), now)
            return
        response = self._response(tx.request, 200, to_tag=leg.local_tag, contact=True, body=sdp)
        self._send_2xx(leg, tx, response, now)

    # UAC side -------------------------------------------------------------------

    def invite(
        self,
        *,
        target_uri: str,
        destination: Address,
        transport: str,
        sdp: bytes,
        now: float,
        caller_user: str = "dipflow",
        caller_name: str = "dipflow",
    ) -> str:
        """Place a call (an agent leg). Returns its leg id; watch for Outgoing* events."""
        self._now = now
        leg_id = _token()
        call_id = f"{_token(12)}@{self.host}"
        local_tag = _token(6)
        local_party = f'"{caller_name}" <sip:{caller_user}@{self.host}>;tag={local_tag}'
        remote_party = f"<{target_uri}>"
        request = SipMessage(method="INVITE", uri=target_uri)
        branch = MAGIC_COOKIE + _token()
        h = request.headers
        h.add("Via", f"SIP/2.0/{transport.upper()} {self.host}:{self.port};branch={branch};rport")
        h.add("Max-Forwards", "70")
        h.add("From", local_party)
        h.add("To", remote_party)
        h.add("Call-ID", call_id)
        h.add("CSeq", "1 INVITE")
        h.add("Contact", self._contact(transport))
        h.add("Allow", ALLOW)
        h.add("User-Agent", self.settings.user_agent)
        h.add("Content-Type", "application/sdp")
        request.body = sdp
        key: ClientKey = (branch, "INVITE")
        leg = Leg(
            leg_id=leg_id, uas=False, call_id=call_id, local_tag=local_tag, remote_tag=None,
            local_party=local_party, remote_party=remote_party, remote_target=target_uri,
            route_set=[], peer=destination, transport=transport, invite=request, invite_tx=key,
        )  # fmt: skip
        self.legs[leg_id] = leg
        self.guard.verify(destination[0])  # we chose this destination
        self._start_client_tx(request, destination, transport, leg_id, now)
        return leg_id

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

    # ----------------------------------------------------------------- requests

    def _on_request(self, request: SipMessage, source: Address, transport: str, now: float) -> None:
        via = request.top_via
        method = request.method or ""
        key = self._server_key(request, via, method)
        if method == "ACK":
            self._on_ack(request, key, source)
            return
        existing = self._server_tx.get(key)
        if existing is not None:  # a retransmission: repeat our last response (§17.2.1)
            if existing.last_response is not None:
                self._send(existing.last_response, existing.source, existing.transport)
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
            response = self._response(request, 200, to_tag=_token(6))
            response.headers.add("Allow", ALLOW)
            response.headers.add("Accept", "application/sdp")
            self._respond_tx(tx, response, now)
        elif method == "REGISTER":
            self._on_register(tx, request, source, transport, now)
        elif method == "BYE":
            self._respond_tx(tx, self._response(request, 481), now)
        else:
            response = self._response(request, 405, to_tag=_token(6))
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
            self._respond_tx(tx, self._response(request, 400, to_tag=_token(6)), now)
            return
        for leg in self.legs.values():  # §8.2.2.2 merged request, or a fork loop
            if leg.uas and leg.call_id == request.call_id and leg.remote_tag == from_tag:
                self._respond_tx(tx, self._response(request, 482, to_tag=_token(6)), now)
                return
        require = request.headers.get("Require")
        if require:  # we support no extensions (§8.2.2.3)
            response = self._response(request, 420, to_tag=_token(6))
            response.headers.add("Unsupported", require)
            self._respond_tx(tx, response, now)
            return
        active = sum(1 for leg in self.legs.values() if leg.state is not LegState.TERMINATED)
        if active >= self.settings.max_calls:
            self._respond_tx(tx, self._response(request, 503, to_tag=_token(6)), now)
            return
        contact_values = request.headers.get_all("Contact")
        if not contact_values:
            self._respond_tx(tx, self._response(request, 400, to_tag=_token(6)), now)
            return
        remote_target = NameAddr.parse(contact_values[0]).uri
        local_tag = _token(6)
        leg = Leg(
            leg_id=_token(), uas=True, call_id=request.call_id, local_tag=local_tag,
            remote_tag=from_tag,
            local_party=f"{request.headers.get('To')};tag={local_tag}",
            remote_party=request.headers.get("From") or "",
            remote_target=remote_target,
            route_set=list(request.headers.get_all("Record-Route")),
            peer=source, transport=transport, invite=request, invite_tx=tx.key,
            remote_cseq=request.cseq[0],
        )  # fmt: skip
        tx.leg_id = leg.leg_id
        self.legs[leg.leg_id] = leg
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
        if method == "BYE":
            self._respond_tx(tx, self._response(request, 200), now)
            was_live = leg.state is not LegState.TERMINATED
            self._end_leg(leg)
            if was_live:
                self._events.append(CallTerminated(leg_id=leg.leg_id, reason="bye"))
        elif method == "INVITE":
            if leg.reoffer_tx is not None or leg.state is LegState.ANSWERED:
                self._respond_tx(tx, self._response(request, 491), now)  # §14.2
                return
            contact = request.headers.get("Contact")
            if contact:
                leg.remote_target = NameAddr.parse(contact).uri  # §12.2.2 target refresh
            tx.leg_id = leg.leg_id
            leg.reoffer_tx = tx.key
            self._events.append(ReOffer(leg_id=leg.leg_id, body=request.body))
        elif method in ("OPTIONS", "INFO"):
            self._respond_tx(tx, self._response(request, 200), now)
        else:
            response = self._response(request, 405)
            response.headers.add("Allow", ALLOW)
            self._respond_tx(tx, response, now)

    def _on_ack(self, request: SipMessage, key: ServerKey, source: Address) -> None:
        tx = self._server_tx.get(key)
        if tx is not None and tx.state is TxState.COMPLETED:  # ACK of a non-2xx (§17.2.1)
            tx.state = TxState.CONFIRMED
            tx.timers.pop("G", None)
            tx.timers.pop("H", None)
            self._set_timer("server", tx, "I", 0.0 if tx.transport == "tcp" else self.t4)
            return
        to_tag = NameAddr.parse(request.headers.get("To") or "").tag or ""
        from_tag = NameAddr.parse(request.headers.get("From") or "").tag or ""
        leg_id = self._dialogs.get((request.call_id, to_tag, from_tag))
        leg = self.legs.get(leg_id) if leg_id else None
        if leg is None or leg.ok_response is None:
            return
        self.guard.verify(source[0])
        leg.ok_response = None
        leg.timers.pop("2xx", None)
        leg.timers.pop("H", None)
        if leg.state is LegState.ANSWERED:
            leg.state = LegState.CONFIRMED
            self._events.append(CallConfirmed(leg_id=leg.leg_id))
            if leg.bye_pending:
                self._send_bye(leg, self._now)

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
        to_tag = leg.local_tag if leg else _token(6)
        self._respond_tx(cancel_tx, self._response(request, 200, to_tag=to_tag), now)
        if invite_tx.state is TxState.PROCEEDING and leg is not None:
            self._final_error(
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
            response = self._response(request, 401, to_tag=_token(6))
            response.headers.add("WWW-Authenticate", self.registrar.challenge(now))
            self._respond_tx(tx, response, now)
            return
        self.guard.verify(source[0])
        contacts = self.registrar.register(request, user, source, transport, now)
        response = self._response(request, 200, to_tag=_token(6))
        for contact in contacts:
            response.headers.add("Contact", contact)
        self._respond_tx(tx, response, now)
        if contacts:
            self._events.append(AgentRegistered(user=user, contact=contacts[0]))

    # ----------------------------------------------------------------- responses

    def _on_response(self, response: SipMessage, source: Address, now: float) -> None:
        via = response.top_via
        _number, method = response.cseq
        tx = self._client_tx.get((via.branch, method))
        status = response.status or 0
        if tx is None:
            if method == "INVITE" and 200 <= status < 300:
                self._stray_2xx(response)
            return
        self.guard.verify(source[0])
        if not tx.is_invite:
            if status >= 200 and tx.state in (TxState.TRYING, TxState.PROCEEDING, TxState.CALLING):
                tx.state = TxState.COMPLETED
                tx.timers.clear()
                self._set_timer("client", tx, "K", 0.0 if tx.transport == "tcp" else self.t4)
            elif status < 200:
                tx.state = TxState.PROCEEDING
            return
        leg = self.legs.get(tx.leg_id or "")
        if status < 200:
            if tx.state is TxState.CALLING:
                tx.state = TxState.PROCEEDING
                tx.timers.pop("A", None)
            if leg is not None and leg.state is LegState.EARLY:
                leg.provisional_seen = True
                self._events.append(OutgoingProgress(leg_id=leg.leg_id, status=status))
                if leg.cancel_pending:
                    self._send_cancel(leg, now)
            return
        if status < 300:
            if tx.state in (TxState.CALLING, TxState.PROCEEDING):
                tx.state = TxState.ACCEPTED  # RFC 6026 §8.4: timer M absorbs retransmissions
                tx.timers.clear()
                self._set_timer("client", tx, "M", 64 * self.t1)
                if leg is not None:
                    self._confirm_uac_leg(leg, response, now)
                return
            self._stray_2xx(response)
            return
        if tx.state in (TxState.CALLING, TxState.PROCEEDING):
            tx.state = TxState.COMPLETED
            tx.timers.clear()
            tx.ack = non_2xx_ack(tx.request, response)
            self._send(tx.ack, tx.destination, tx.transport)
            self._set_timer("client", tx, "D", 0.0 if tx.transport == "tcp" else 32.0)
            if leg is not None and leg.state is not LegState.TERMINATED:
                self._end_leg(leg)
                self._events.append(OutgoingFailed(leg_id=leg.leg_id, status=status))
        elif tx.ack is not None:
            self._send(tx.ack, tx.destination, tx.transport)

    def _confirm_uac_leg(self, leg: Leg, response: SipMessage, now: float) -> None:
        to_tag = NameAddr.parse(response.headers.get("To") or "").tag or ""
        leg.remote_tag = to_tag
        leg.remote_party = f"{leg.remote_party};tag={to_tag}"
        contact = response.headers.get("Contact")
        if contact:
            leg.remote_target = NameAddr.parse(contact).uri
        leg.route_set = list(reversed(response.headers.get_all("Record-Route")))  # §12.1.2
        leg.state = LegState.CONFIRMED
        self._dialogs[(leg.call_id, leg.local_tag, to_tag)] = leg.leg_id
        ack = self._in_dialog_request(leg, "ACK", cseq=leg.local_cseq)
        leg.ack = ack.to_bytes()
        self._send(leg.ack, leg.peer, leg.transport)
        if leg.cancel_pending:  # we gave up while it was being answered: end it (§9.1)
            self._send_bye(leg, now)
            return
        self._events.append(OutgoingAnswered(leg_id=leg.leg_id, body=response.body))

    def _stray_2xx(self, response: SipMessage) -> None:
        """A retransmitted 2xx after our INVITE transaction ended: ACK again (§13.2.2.4)."""
        from_tag = NameAddr.parse(response.headers.get("From") or "").tag or ""
        to_tag = NameAddr.parse(response.headers.get("To") or "").tag or ""
        leg_id = self._dialogs.get((response.call_id, from_tag, to_tag))
        leg = self.legs.get(leg_id) if leg_id else None
        if leg is not None and leg.ack is not None:
            self._send(leg.ack, leg.peer, leg.transport)

    # ----------------------------------------------------------------- building

    def _contact(self, transport: str) -> str:
        return contact_header(self.host, self.port, transport)

    def _response(
        self,
        request: SipMessage,
        status: int,
        *,
        to_tag: str | None = None,
        contact: bool = False,
        body: bytes = b"",
    ) -> SipMessage:
        return build_response(
            request, status, to_tag=to_tag, server=self.settings.user_agent, body=body,
            contact=self._contact(request.top_via.transport.lower()) if contact else None,
        )  # fmt: skip

    def _with_received(self, response: SipMessage, source: Address) -> SipMessage:
        return stamp_received(response, source)

    def _in_dialog_request(self, leg: Leg, method: str, *, cseq: int | None = None) -> SipMessage:
        if cseq is None:
            leg.local_cseq += 1
            cseq = leg.local_cseq
        return in_dialog_request(
            leg, method, cseq=cseq, host=self.host, port=self.port,
            branch=MAGIC_COOKIE + _token(), user_agent=self.settings.user_agent,
        )  # fmt: skip

    # ----------------------------------------------------------------- sending

    def _send(self, data: bytes, destination: Address, transport: str) -> None:
        if transport == "udp" and not self.guard.may_send(destination[0], len(data)):
            self.stats["amplification_drops"] += 1
            return
        self._outgoing.append(Outgoing(data=data, destination=destination, transport=transport))

    def _new_server_tx(
        self, key: ServerKey, request: SipMessage, source: Address, transport: str, now: float
    ) -> ServerTransaction:
        self._now = now
        tx = ServerTransaction(
            key=key, request=request, source=source, transport=transport,
            is_invite=request.method == "INVITE",
            state=TxState.PROCEEDING if request.method == "INVITE" else TxState.TRYING,
        )  # fmt: skip
        self._server_tx[key] = tx
        self._fresh_tx = key
        return tx

    def _respond_tx(self, tx: ServerTransaction, response: SipMessage, now: float = 0.0) -> None:
        data = self._with_received(response, tx.source).to_bytes()
        tx.last_response = data
        self._send(data, tx.source, tx.transport)
        status = response.status or 0
        if status < 200:
            return
        if not tx.is_invite:  # §17.2.2: completed, absorb retransmissions for timer J
            tx.state = TxState.COMPLETED
            self._set_timer("server", tx, "J", 0.0 if tx.transport == "tcp" else 64 * self.t1)
        elif status >= 300:  # §17.2.1: retransmit (timer G) until the ACK or timer H
            tx.state = TxState.COMPLETED
            if tx.transport == "udp":
                tx.interval = self.t1
                self._set_timer("server", tx, "G", self.t1)
            self._set_timer("server", tx, "H", 64 * self.t1)

    def _final_error(self, tx: ServerTransaction, response: SipMessage, now: float) -> None:
        """A 300-699 on an INVITE transaction."""
        self._respond_tx(tx, response, now)

    def _send_2xx(self, leg: Leg, tx: ServerTransaction, response: SipMessage, now: float) -> None:
        data = self._with_received(response, tx.source).to_bytes()
        tx.last_response = data
        tx.state = TxState.ACCEPTED  # RFC 6026 §7.1: retransmitted INVITEs get the 2xx again
        self._set_timer("server", tx, "L", 64 * self.t1)
        self._send(data, tx.source, tx.transport)
        leg.ok_response = data
        if tx.transport == "udp":
            leg.interval = self.t1
            self._set_timer("leg", leg, "2xx", self.t1)
        self._set_timer("leg", leg, "H", 64 * self.t1)

    def _send_bye(self, leg: Leg, now: float) -> None:
        bye = self._in_dialog_request(leg, "BYE")
        self._end_leg(leg)
        self._start_client_tx(bye, leg.peer, leg.transport, None, now)

    def _send_cancel(self, leg: Leg, now: float) -> None:
        """§9.1: same Request-URI, Call-ID, From, To, CSeq number and branch as the INVITE."""
        cancel = cancel_request(leg.invite)
        leg.cancel_pending = True  # a 2xx racing the CANCEL is ACKed and BYEd
        self._start_client_tx(cancel, leg.peer, leg.transport, None, now)

    def _start_client_tx(
        self,
        request: SipMessage,
        destination: Address,
        transport: str,
        leg_id: str | None,
        now: float,
    ) -> None:
        self._now = now
        method = request.method or ""
        branch = Via.parse(request.headers.get_all("Via")[0]).branch
        data = request.to_bytes()
        tx = ClientTransaction(
            key=(branch, method), request=request, data=data, destination=destination,
            transport=transport, is_invite=method == "INVITE", leg_id=leg_id,
            state=TxState.CALLING if method == "INVITE" else TxState.TRYING,
        )  # fmt: skip
        self._client_tx[tx.key] = tx
        self._send(data, destination, transport)
        if transport == "udp":
            tx.interval = self.t1
            self._set_timer("client", tx, "A" if tx.is_invite else "E", self.t1)
        self._set_timer("client", tx, "B" if tx.is_invite else "F", 64 * self.t1)

    def _end_leg(self, leg: Leg) -> None:
        leg.state = LegState.TERMINATED
        leg.timers.clear()
        leg.ok_response = None
        self.legs.pop(leg.leg_id, None)
        if leg.dialog_key is not None:
            self._dialogs.pop(leg.dialog_key, None)

    # ----------------------------------------------------------------- timers

    _now: float = 0.0
    _fresh_tx: ServerKey | None = None

    def _set_timer(self, table: str, record: object, name: str, delay: float) -> None:
        when = self._now + delay
        record.timers[name] = when  # type: ignore[attr-defined]
        heapq.heappush(self._heap, (when, next(self._counter), table, record, name))

    def _timer_live(self, table: str, record: object, name: str, when: float) -> bool:
        timers: dict[str, float] = record.timers  # type: ignore[attr-defined]
        if timers.get(name) != when:
            return False
        if table == "server":
            return self._server_tx.get(record.key) is record  # type: ignore[attr-defined]
        if table == "client":
            return self._client_tx.get(record.key) is record  # type: ignore[attr-defined]
        return self.legs.get(record.leg_id) is record  # type: ignore[attr-defined]

    def _server_timer(self, tx: ServerTransaction, name: str, now: float) -> None:
        self._now = now
        if name == "G" and tx.state is TxState.COMPLETED and tx.last_response is not None:
            self._send(tx.last_response, tx.source, tx.transport)
            tx.interval = min(2 * tx.interval, self.t2)
            self._set_timer("server", tx, "G", tx.interval)
        elif name in ("H", "I", "J", "L"):
            tx.timers.clear()
            self._server_tx.pop(tx.key, None)

    def _client_timer(self, tx: ClientTransaction, name: str, now: float) -> None:
        self._now = now
        if name in ("A", "E") and tx.state in (TxState.CALLING, TxState.TRYING, TxState.PROCEEDING):
            if name == "A" and tx.state is not TxState.CALLING:
                return
            self._send(tx.data, tx.destination, tx.transport)
            tx.interval = 2 * tx.interval if name == "A" else min(2 * tx.interval, self.t2)
            self._set_timer("client", tx, name, tx.interval)
        elif name == "B":
            self._drop_client_tx(tx)
            leg = self.legs.get(tx.leg_id or "")
            if tx.state is TxState.CALLING and leg is not None:
                self._end_leg(leg)
                self._events.append(OutgoingFailed(leg_id=leg.leg_id, status=408))
        elif name in ("D", "F", "K", "M"):
            self._drop_client_tx(tx)

    def _drop_client_tx(self, tx: ClientTransaction) -> None:
        tx.timers.clear()
        self._client_tx.pop(tx.key, None)

    def _leg_timer(self, leg: Leg, name: str, now: float) -> None:
        self._now = now
        if name == "2xx" and leg.ok_response is not None:
            self._send(leg.ok_response, leg.peer, leg.transport)
            leg.interval = min(2 * leg.interval, self.t2)
            self._set_timer("leg", leg, "2xx", leg.interval)
        elif name == "H" and leg.ok_response is not None:
            # §13.3.1.4: no ACK within 64*T1 - the session ends with a BYE.
            leg.ok_response = None
            leg.timers.clear()
            if leg.reoffer_tx is None and leg.state is LegState.ANSWERED:
                self._send_bye(leg, now)
                self._events.append(CallTerminated(leg_id=leg.leg_id, reason="no-ack"))

    # ----------------------------------------------------------------- misc

    def _garbage(self, ip: str, now: float) -> None:
        self.stats["garbage"] += 1
        if not self.garbage_limiter.allow(ip, now):
            self._penalty[ip] = now + 10.0
            if len(self._penalty) > self.settings.tracked_sources:
                self._penalty.popitem(last=False)

    def _take_events(self) -> list[SipEvent]:
        events, self._events = self._events, []
        return events

    def transactions(self) -> int:
        """How many transactions are alive (for tests: memory stays bounded)."""
        return len(self._server_tx) + len(self._client_tx)
