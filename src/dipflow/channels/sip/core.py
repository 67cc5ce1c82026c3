"""Shared state and plumbing of the SIP user agent: tables, sending, timers, builders.

Layer 4 (channels). `SipUserAgent` (agent.py) adds the UAS side on top of `ClientSide`
(client.py), which adds the UAC side on top of this core. Split for size only: one
object at run time. Transactions move only through `step_tx`, which carries out the
steps of the table in `transitions.py`.
"""

from __future__ import annotations

import heapq
import itertools
import secrets
from abc import ABC, abstractmethod
from collections import Counter, OrderedDict
from typing import assert_never

from dipflow.channels.sip.builders import (
    MAGIC_COOKIE,
    build_response,
    contact_header,
    in_dialog_request,
    non_2xx_ack,
    stamp_received,
)
from dipflow.channels.sip.events import (
    Address,
    CallTerminated,
    Outgoing,
    OutgoingFailed,
    SipEvent,
)
from dipflow.channels.sip.message import (
    SipMessage,
    Via,
)
from dipflow.channels.sip.protection import AmplificationGuard, RateLimiter
from dipflow.channels.sip.registrar import Registrar
from dipflow.channels.sip.routing import next_hop, response_fallback
from dipflow.channels.sip.settings import SipSettings
from dipflow.channels.sip.timers import (
    RETRANSMIT_TIMERS,
    SipTimer,
    Timing,
    backoff,
    initial_delay,
)
from dipflow.channels.sip.transactions import (
    ClientKey,
    ClientTransaction,
    Leg,
    LegState,
    ServerKey,
    ServerTransaction,
    TxKind,
    TxState,
)
from dipflow.channels.sip.transitions import (
    INITIAL,
    TxAction,
    TxEvent,
    response_input,
    transition,
)

Transaction = ServerTransaction | ClientTransaction
TimerOwner = ServerTransaction | ClientTransaction | Leg


def new_token(nbytes: int = 8) -> str:
    """Random hex for tags, branches and ids (§19.3: globally unique, cryptographically random)."""
    return secrets.token_hex(nbytes)


class AgentCore(ABC):
    """Transaction/dialog tables, the outgoing queue, the timer heap (see `SipUserAgent`)."""

    def __init__(self, settings: SipSettings, *, local_port: int) -> None:
        self.settings = settings
        self.host = settings.public_host
        self.port = local_port
        self.timing = Timing(t1=settings.t1_s, t2=settings.t2_s, t4=settings.t4_s)
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
        self._heap: list[tuple[float, int, TimerOwner, SipTimer]] = []
        self._counter = itertools.count()
        self.stats: dict[str, int] = {
            "garbage": 0, "penalised": 0, "rate_limited": 0, "amplification_drops": 0,
            "oversized": 0, "overload_drops": 0,
        }  # fmt: skip
        self.counts: Counter[str] = Counter()
        """What the channel did, for /metrics (`metrics.SipCollector`): calls placed and
        received, retransmissions, registrations."""
        self.failures: Counter[tuple[str, int]] = Counter()
        """Calls that ended with a final error response: (direction, status)."""

    def take_outgoing(self) -> list[Outgoing]:
        out, self._outgoing = self._outgoing, []
        return out

    def next_deadline(self) -> float | None:
        while self._heap:
            when, _, record, timer = self._heap[0]
            if self._timer_live(record, timer, when):
                return when
            heapq.heappop(self._heap)
        return None

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

    def _in_dialog_request(
        self, leg: Leg, method: str, *, transport: str, cseq: int | None = None
    ) -> SipMessage:
        if cseq is None:
            leg.local_cseq += 1
            cseq = leg.local_cseq
        return in_dialog_request(
            leg, method, cseq=cseq, host=self.host, port=self.port, transport=transport,
            branch=MAGIC_COOKIE + new_token(), user_agent=self.settings.user_agent,
        )  # fmt: skip

    def _send(
        self, data: bytes, destination: Address, transport: str, fallback: Address | None = None
    ) -> None:
        if transport == "udp" and not self.guard.may_send(destination[0], len(data)):
            self.stats["amplification_drops"] += 1
            return
        self._outgoing.append(
            Outgoing(data=data, destination=destination, transport=transport, fallback=fallback)
        )

    def _send_response(self, tx: ServerTransaction, data: bytes) -> None:
        fallback = response_fallback(tx.request, tx.source) if tx.transport == "tcp" else None
        self._send(data, tx.source, tx.transport, fallback)

    def _new_server_tx(
        self, key: ServerKey, request: SipMessage, source: Address, transport: str, now: float
    ) -> ServerTransaction:
        self._now = now
        is_invite = request.method == "INVITE"
        state, _ = INITIAL[TxKind.INVITE_SERVER if is_invite else TxKind.NON_INVITE_SERVER]
        tx = ServerTransaction(
            key=key, request=request, source=source, transport=transport,
            is_invite=is_invite, state=state,
        )  # fmt: skip
        self._server_tx[key] = tx
        self._fresh_tx = key
        return tx

    def _respond_tx(self, tx: ServerTransaction, response: SipMessage, now: float = 0.0) -> None:
        """Hand the TU's response to its server transaction (which sends it, or not)."""
        self.step_tx(tx, response_input(response.status or 0), response)

    def _invite_tx(self, leg: Leg) -> ServerTransaction | None:
        """The server transaction of a UAS leg's INVITE, while it lasts."""
        return self._server_tx.get(leg.invite_tx) if leg.invite_tx is not None else None

    def _send_2xx(self, leg: Leg, tx: ServerTransaction, response: SipMessage, now: float) -> None:
        """Answer an INVITE with a 2xx; the dialog retransmits it until the ACK (§13.3.1.4)."""
        self._respond_tx(tx, response, now)
        leg.ok_response = tx.last_response
        self._start_timer(leg, SipTimer.RETRANSMIT_2XX)
        self._start_timer(leg, SipTimer.ACK_TIMEOUT)

    def _send_bye(self, leg: Leg, now: float) -> None:
        hop = next_hop(leg)
        bye = self._in_dialog_request(leg, "BYE", transport=hop.transport)
        self._end_leg(leg)
        self._start_client_tx(bye, hop.destination, hop.transport, None, now, hop.fallback)

    def _start_client_tx(
        self,
        request: SipMessage,
        destination: Address,
        transport: str,
        leg_id: str | None,
        now: float,
        fallback: Address | None = None,
    ) -> None:
        self._now = now
        method = request.method or ""
        branch = Via.parse(request.headers.get_all("Via")[0]).branch
        data = request.to_bytes()
        is_invite = method == "INVITE"
        state, timers = INITIAL[TxKind.INVITE_CLIENT if is_invite else TxKind.NON_INVITE_CLIENT]
        tx = ClientTransaction(
            key=(branch, method), request=request, data=data, destination=destination,
            transport=transport, is_invite=is_invite, leg_id=leg_id, state=state,
            fallback=fallback,
        )  # fmt: skip
        self._client_tx[tx.key] = tx
        self._send(data, destination, transport, fallback)
        for timer in timers:
            self._start_timer(tx, timer)

    def _end_leg(self, leg: Leg) -> None:
        leg.state = LegState.TERMINATED
        leg.timers.clear()
        leg.ok_response = None
        self.legs.pop(leg.leg_id, None)
        if leg.dialog_key is not None:
            self._dialogs.pop(leg.dialog_key, None)

    _now: float = 0.0

    _fresh_tx: ServerKey | None = None

    # -- transactions (transitions.py) ----------------------------------------------

    def step_tx(self, tx: Transaction, event: TxEvent, message: SipMessage | None = None) -> bool:
        """Carry out the table's step for `event` (`message`: the response it is about).

        False when the transaction absorbs the event (no step listed)."""
        step = transition(tx.kind, tx.state, event)
        if step is None:
            return False
        tx.state = step.state
        for timer in step.stop:
            tx.timers.pop(timer, None)
        if step.state is TxState.TERMINATED:
            self._drop_tx(tx)
        else:
            for timer in step.start:
                self._start_timer(tx, timer, fired=event)
        for action in step.actions:
            self._act(tx, action, message)
        return True

    def _act(self, tx: Transaction, action: TxAction, message: SipMessage | None) -> None:
        match action:
            case TxAction.SEND_RESPONSE:
                assert isinstance(tx, ServerTransaction) and message is not None
                tx.last_response = self._with_received(message, tx.source).to_bytes()
                self._send_response(tx, tx.last_response)
                if tx.is_invite and (message.status or 0) >= 300 and self._initial(tx):
                    self.failures["inbound", message.status or 0] += 1  # a new call refused
            case TxAction.RESEND_RESPONSE:
                assert isinstance(tx, ServerTransaction)
                if tx.last_response is not None:
                    self.counts["retransmitted_responses"] += 1
                    self._send_response(tx, tx.last_response)
            case TxAction.RESEND_REQUEST:
                assert isinstance(tx, ClientTransaction)
                self.counts["retransmitted_requests"] += 1
                self._send(tx.data, tx.destination, tx.transport, tx.fallback)
            case TxAction.SEND_ACK:
                assert isinstance(tx, ClientTransaction) and message is not None
                if tx.ack is None:
                    tx.ack = non_2xx_ack(tx.request, message)
                self._send(tx.ack, tx.destination, tx.transport, tx.fallback)
            case TxAction.TO_TU:
                assert isinstance(tx, ClientTransaction) and message is not None
                self._response_to_tu(tx, message)
            case TxAction.TIMEOUT_TO_TU:
                assert isinstance(tx, ClientTransaction)
                leg = self.legs.get(tx.leg_id or "")
                if leg is not None and leg.uas:  # our session refresh went unanswered
                    self._refresh_timed_out(leg)
                elif leg is not None:  # our INVITE to an agent's phone went unanswered
                    self.failures["outbound", 408] += 1
                    self._end_leg(leg)
                    self._events.append(OutgoingFailed(leg_id=leg.leg_id, status=408))
            case _:
                assert_never(action)

    def _initial(self, tx: ServerTransaction) -> bool:
        """Whether `tx` is the INVITE that started a call (not a re-INVITE)."""
        leg = self.legs.get(tx.leg_id) if tx.leg_id is not None else None
        return leg is None or leg.invite_tx == tx.key

    @abstractmethod
    def _response_to_tu(self, tx: ClientTransaction, response: SipMessage) -> None:
        """The UAC core's handling of a response to our request (client.py)."""

    def _drop_tx(self, tx: Transaction) -> None:
        tx.timers.clear()
        if isinstance(tx, ServerTransaction):
            self._server_tx.pop(tx.key, None)
        else:
            self._client_tx.pop(tx.key, None)

    # -- timers (timers.py) ---------------------------------------------------------

    def _start_timer(
        self,
        record: TimerOwner,
        timer: SipTimer,
        *,
        fired: TxEvent | None = None,
        delay: float | None = None,
    ) -> None:
        """Start `timer` of `record`; a retransmission timer restarted by its own firing
        (`fired`) backs off, else it starts from T1. `delay`: a negotiated duration (the
        session timers)."""
        if delay is None:
            delay = initial_delay(timer, self.timing, reliable=record.transport == "tcp")
        if delay is None:
            return
        if timer in RETRANSMIT_TIMERS:
            record.interval = (
                backoff(timer, record.interval, self.timing) if fired is timer else delay
            )
            delay = record.interval
        when = self._now + delay
        record.timers[timer] = when
        heapq.heappush(self._heap, (when, next(self._counter), record, timer))

    def _timer_live(self, record: TimerOwner, timer: SipTimer, when: float) -> bool:
        if record.timers.get(timer) != when:
            return False
        match record:
            case ServerTransaction():
                return self._server_tx.get(record.key) is record
            case ClientTransaction():
                return self._client_tx.get(record.key) is record
            case Leg():
                return self.legs.get(record.leg_id) is record
            case _:
                assert_never(record)

    def _fire(self, record: TimerOwner, timer: SipTimer, now: float) -> None:
        self._now = now
        match record:
            case ServerTransaction() | ClientTransaction():
                self.step_tx(record, timer)
            case Leg():
                self._leg_timer(record, timer, now)
            case _:
                assert_never(record)

    def _leg_timer(self, leg: Leg, timer: SipTimer, now: float) -> None:
        if timer is SipTimer.RETRANSMIT_2XX and leg.ok_response is not None:
            self.counts["retransmitted_responses"] += 1
            self._send(leg.ok_response, leg.peer, leg.transport)
            self._start_timer(leg, timer, fired=timer)
        elif timer is SipTimer.ACK_TIMEOUT and leg.ok_response is not None:
            # §13.3.1.4: no ACK within 64*T1 - the session ends with a BYE.
            leg.ok_response = None
            leg.timers.clear()
            if leg.reoffer_tx is None and leg.state is LegState.ANSWERED:
                self._send_bye(leg, now)
                self._events.append(CallTerminated(leg_id=leg.leg_id, reason="no-ack"))
        else:
            self._extension_timer(leg, timer, now)

    @abstractmethod
    def _refresh_timed_out(self, leg: Leg) -> None:
        """RFC 4028 §10: our refresh timed out - the session ends (extensions.py)."""

    @abstractmethod
    def _extension_timer(self, leg: Leg, timer: SipTimer, now: float) -> None:
        """100rel and session timers (extensions.py)."""

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

    def live_transactions(self) -> list[Transaction]:
        """The transactions alive now (for tests and diagnostics)."""
        return [*self._server_tx.values(), *self._client_tx.values()]
