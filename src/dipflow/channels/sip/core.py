"""Shared state and plumbing of the SIP user agent: tables, sending, timers, builders.

`SipUserAgent` (agent.py) adds the UAS side on top of `ClientSide` (client.py), which
adds the UAC side on top of this core. Split for size only: one object at run time.
"""

from __future__ import annotations

import heapq
import itertools
import secrets
from collections import OrderedDict

from dipflow.channels.sip.builders import (
    MAGIC_COOKIE,
    build_response,
    contact_header,
    in_dialog_request,
    stamp_received,
)
from dipflow.channels.sip.events import (
    Address,
    CallTerminated,
    Outgoing,
    SipEvent,
)
from dipflow.channels.sip.message import (
    SipMessage,
    Via,
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


def new_token(nbytes: int = 8) -> str:
    """Random hex for tags, branches and ids (§19.3: globally unique, cryptographically random)."""
    return secrets.token_hex(nbytes)


class AgentCore:
    """Transaction/dialog tables, the outgoing queue, the timer heap (see `SipUserAgent`)."""

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
            branch=MAGIC_COOKIE + new_token(), user_agent=self.settings.user_agent,
        )  # fmt: skip

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
