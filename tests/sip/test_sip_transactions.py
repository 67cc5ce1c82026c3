"""The four SIP transaction state machines against RFC 3261 §17 (and RFC 6026), row by row.

Each row is transcribed from the RFC: in state S, on event E, the transaction moves to S',
does A, and starts or stops timers. Every row is checked twice: against the table of
`dipflow.channels.sip.transitions`, and on a real `SipUserAgent` brought into S through
its entry points (an INVITE received, `reject`, `invite`, a 180 received...), given E,
and watched: what it puts on the wire, what it tells its driver, which timers run.

Figures: INVITE client §17.1.1.2 (Figure 5), non-INVITE client §17.1.2.2 (Figure 6),
INVITE server §17.2.1 (Figure 7), non-INVITE server §17.2.2 (Figure 8); RFC 6026 adds
the Accepted state to both INVITE machines (§7.1, §8.4, timers L and M).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from dipflow.channels.sip.agent import SipUserAgent
from dipflow.channels.sip.builders import build_response
from dipflow.channels.sip.events import (
    IncomingCall,
    OutgoingAnswered,
    OutgoingFailed,
    OutgoingProgress,
    SipEvent,
)
from dipflow.channels.sip.message import SipMessage
from dipflow.channels.sip.settings import SipSettings
from dipflow.channels.sip.timers import SipTimer, Timing, backoff, initial_delay
from dipflow.channels.sip.transactions import (
    ClientTransaction,
    ServerTransaction,
    TxKind,
    TxState,
)
from dipflow.channels.sip.transitions import (
    INITIAL,
    TRANSITIONS,
    TxAction,
    TxEvent,
    TxInput,
    transition,
)
from tests.sip.sip_helpers import PEER, in_dialog, invite, parse_all, to_tag_of

K, S, M, T, A = TxKind, TxState, TxInput, SipTimer, TxAction
Transaction = ServerTransaction | ClientTransaction


@dataclass(frozen=True)
class Row:
    kind: TxKind
    state: TxState
    event: TxEvent
    then: TxState
    actions: frozenset[TxAction] = frozenset()
    starts: frozenset[SipTimer] = frozenset()
    stops: frozenset[SipTimer] = frozenset()
    sends: tuple[str, ...] = ()
    """On the wire after the event: methods, or status codes as text."""
    tells: type | None = None
    """The event the driver hears of, if any."""
    rfc: str = ""
    """Where the RFC says so; empty for our documented deviations."""

    def __str__(self) -> str:
        return f"{self.kind} {self.state} + {self.event}"


def row(
    kind: TxKind,
    state: TxState,
    event: TxEvent,
    then: TxState,
    *,
    actions: Iterable[TxAction] = (),
    starts: Iterable[SipTimer] = (),
    stops: Iterable[SipTimer] = (),
    sends: tuple[str, ...] = (),
    tells: type | None = None,
    rfc: str = "",
) -> Row:
    return Row(
        kind, state, event, then, frozenset(actions), frozenset(starts), frozenset(stops),
        sends, tells, rfc,
    )  # fmt: skip


RFC_ROWS = [
    # -- INVITE client, §17.1.1.2 Figure 5; RFC 6026 §8.4 ------------------------------
    row(K.INVITE_CLIENT, S.CALLING, T.TIMER_A, S.CALLING, actions={A.RESEND_REQUEST},
        starts={T.TIMER_A}, sends=("INVITE",), rfc="17.1.1.2: timer A, retransmit, reset A"),
    row(K.INVITE_CLIENT, S.CALLING, T.TIMER_B, S.TERMINATED, actions={A.TIMEOUT_TO_TU},
        tells=OutgoingFailed, rfc="17.1.1.2: timer B, inform TU of the timeout"),
    row(K.INVITE_CLIENT, S.CALLING, M.PROVISIONAL, S.PROCEEDING, actions={A.TO_TU},
        stops={T.TIMER_A}, tells=OutgoingProgress, rfc="17.1.1.2: 1xx to TU, no more retransmits"),
    row(K.INVITE_CLIENT, S.CALLING, M.SUCCESS, S.ACCEPTED, actions={A.TO_TU},
        starts={T.TIMER_M}, stops={T.TIMER_A, T.TIMER_B}, sends=("ACK",),
        tells=OutgoingAnswered, rfc="RFC 6026 8.4: 2xx to TU (which ACKs), Accepted, timer M"),
    row(K.INVITE_CLIENT, S.CALLING, M.FAILURE, S.COMPLETED, actions={A.SEND_ACK, A.TO_TU},
        starts={T.TIMER_D}, stops={T.TIMER_A, T.TIMER_B}, sends=("ACK",), tells=OutgoingFailed,
        rfc="17.1.1.2: 300-699, send ACK, resp. to TU, timer D"),
    row(K.INVITE_CLIENT, S.PROCEEDING, M.PROVISIONAL, S.PROCEEDING, actions={A.TO_TU},
        tells=OutgoingProgress, rfc="17.1.1.2: further provisionals to TU"),
    row(K.INVITE_CLIENT, S.PROCEEDING, M.SUCCESS, S.ACCEPTED, actions={A.TO_TU},
        starts={T.TIMER_M}, stops={T.TIMER_B}, sends=("ACK",), tells=OutgoingAnswered,
        rfc="RFC 6026 8.4: 2xx to TU, Accepted"),
    row(K.INVITE_CLIENT, S.PROCEEDING, M.FAILURE, S.COMPLETED, actions={A.SEND_ACK, A.TO_TU},
        starts={T.TIMER_D}, stops={T.TIMER_B}, sends=("ACK",), tells=OutgoingFailed,
        rfc="17.1.1.2: 300-699, send ACK, resp. to TU, timer D"),
    row(K.INVITE_CLIENT, S.COMPLETED, M.FAILURE, S.COMPLETED, actions={A.SEND_ACK},
        sends=("ACK",), rfc="17.1.1.2: a retransmitted final is ACKed again, not passed up"),
    row(K.INVITE_CLIENT, S.COMPLETED, T.TIMER_D, S.TERMINATED, rfc="17.1.1.2: timer D"),
    row(K.INVITE_CLIENT, S.ACCEPTED, M.SUCCESS, S.ACCEPTED, actions={A.TO_TU}, sends=("ACK",),
        rfc="RFC 6026 8.4: 2xx to TU; the TU ACKs it again (RFC 3261 13.2.2.4)"),
    row(K.INVITE_CLIENT, S.ACCEPTED, T.TIMER_M, S.TERMINATED, rfc="RFC 6026 8.4: timer M"),
    # -- non-INVITE client, §17.1.2.2 Figure 6 -----------------------------------------
    row(K.NON_INVITE_CLIENT, S.TRYING, T.TIMER_E, S.TRYING, actions={A.RESEND_REQUEST},
        starts={T.TIMER_E}, sends=("BYE",), rfc="17.1.2.2: timer E, retransmit"),
    row(K.NON_INVITE_CLIENT, S.TRYING, T.TIMER_F, S.TERMINATED, actions={A.TIMEOUT_TO_TU},
        rfc="17.1.2.2: timer F, inform TU (nothing waits for our BYE's answer)"),
    row(K.NON_INVITE_CLIENT, S.TRYING, M.PROVISIONAL, S.PROCEEDING, actions={A.TO_TU},
        rfc="17.1.2.2: 1xx to TU"),
    row(K.NON_INVITE_CLIENT, S.TRYING, M.SUCCESS, S.COMPLETED, actions={A.TO_TU},
        starts={T.TIMER_K}, stops={T.TIMER_E, T.TIMER_F}, rfc="17.1.2.2: 200-699, timer K"),
    row(K.NON_INVITE_CLIENT, S.TRYING, M.FAILURE, S.COMPLETED, actions={A.TO_TU},
        starts={T.TIMER_K}, stops={T.TIMER_E, T.TIMER_F}, rfc="17.1.2.2: 200-699, timer K"),
    row(K.NON_INVITE_CLIENT, S.PROCEEDING, T.TIMER_E, S.PROCEEDING,
        actions={A.RESEND_REQUEST}, starts={T.TIMER_E}, sends=("BYE",),
        rfc="17.1.2.2: timer E in Proceeding, retransmit"),
    row(K.NON_INVITE_CLIENT, S.PROCEEDING, T.TIMER_F, S.TERMINATED,
        actions={A.TIMEOUT_TO_TU}, rfc="17.1.2.2: timer F"),
    row(K.NON_INVITE_CLIENT, S.PROCEEDING, M.PROVISIONAL, S.PROCEEDING, actions={A.TO_TU},
        rfc="17.1.2.2: 1xx to TU"),
    row(K.NON_INVITE_CLIENT, S.PROCEEDING, M.SUCCESS, S.COMPLETED, actions={A.TO_TU},
        starts={T.TIMER_K}, stops={T.TIMER_E, T.TIMER_F}, rfc="17.1.2.2: 200-699, timer K"),
    row(K.NON_INVITE_CLIENT, S.PROCEEDING, M.FAILURE, S.COMPLETED, actions={A.TO_TU},
        starts={T.TIMER_K}, stops={T.TIMER_E, T.TIMER_F}, rfc="17.1.2.2: 200-699, timer K"),
    row(K.NON_INVITE_CLIENT, S.COMPLETED, T.TIMER_K, S.TERMINATED, rfc="17.1.2.2: timer K"),
    # -- INVITE server, §17.2.1 Figure 7; RFC 6026 §7.1 --------------------------------
    row(K.INVITE_SERVER, S.PROCEEDING, M.PROVISIONAL, S.PROCEEDING,
        actions={A.SEND_RESPONSE}, sends=("180",), rfc="17.2.1: 101-199 from TU, send"),
    row(K.INVITE_SERVER, S.PROCEEDING, M.SUCCESS, S.ACCEPTED, actions={A.SEND_RESPONSE},
        starts={T.TIMER_L}, sends=("200",), rfc="RFC 6026 7.1: 2xx from TU, send, timer L"),
    row(K.INVITE_SERVER, S.PROCEEDING, M.FAILURE, S.COMPLETED, actions={A.SEND_RESPONSE},
        starts={T.TIMER_G, T.TIMER_H}, sends=("486",),
        rfc="17.2.1: 300-699 from TU, send, timers G (unreliable) and H"),
    row(K.INVITE_SERVER, S.PROCEEDING, M.REQUEST, S.PROCEEDING, actions={A.RESEND_RESPONSE},
        sends=("100",), rfc="17.2.1: INVITE retransmission, the last provisional again"),
    row(K.INVITE_SERVER, S.COMPLETED, M.REQUEST, S.COMPLETED, actions={A.RESEND_RESPONSE},
        sends=("486",), rfc="17.2.1: INVITE retransmission, the final again"),
    row(K.INVITE_SERVER, S.COMPLETED, T.TIMER_G, S.COMPLETED, actions={A.RESEND_RESPONSE},
        starts={T.TIMER_G}, sends=("486",), rfc="17.2.1: timer G, retransmit, back off"),
    row(K.INVITE_SERVER, S.COMPLETED, T.TIMER_H, S.TERMINATED,
        rfc="17.2.1: timer H, no ACK came"),
    row(K.INVITE_SERVER, S.COMPLETED, M.ACK, S.CONFIRMED, starts={T.TIMER_I},
        stops={T.TIMER_G, T.TIMER_H}, rfc="17.2.1: ACK, Confirmed, timer I"),
    row(K.INVITE_SERVER, S.CONFIRMED, T.TIMER_I, S.TERMINATED, rfc="17.2.1: timer I"),
    row(K.INVITE_SERVER, S.ACCEPTED, M.SUCCESS, S.ACCEPTED, actions={A.SEND_RESPONSE},
        sends=("200",), rfc="RFC 6026 7.1: 2xx from TU in Accepted, send"),
    row(K.INVITE_SERVER, S.ACCEPTED, T.TIMER_L, S.TERMINATED, rfc="RFC 6026 7.1: timer L"),
    # -- non-INVITE server, §17.2.2 Figure 8 -------------------------------------------
    row(K.NON_INVITE_SERVER, S.TRYING, M.PROVISIONAL, S.PROCEEDING,
        actions={A.SEND_RESPONSE}, sends=("180",), rfc="17.2.2: 1xx from TU, send"),
    row(K.NON_INVITE_SERVER, S.TRYING, M.SUCCESS, S.COMPLETED, actions={A.SEND_RESPONSE},
        starts={T.TIMER_J}, sends=("200",), rfc="17.2.2: 200-699 from TU, send, timer J"),
    row(K.NON_INVITE_SERVER, S.TRYING, M.FAILURE, S.COMPLETED, actions={A.SEND_RESPONSE},
        starts={T.TIMER_J}, sends=("486",), rfc="17.2.2: 200-699 from TU, send, timer J"),
    row(K.NON_INVITE_SERVER, S.PROCEEDING, M.PROVISIONAL, S.PROCEEDING,
        actions={A.SEND_RESPONSE}, sends=("180",), rfc="17.2.2: 1xx from TU, send"),
    row(K.NON_INVITE_SERVER, S.PROCEEDING, M.SUCCESS, S.COMPLETED,
        actions={A.SEND_RESPONSE}, starts={T.TIMER_J}, sends=("200",),
        rfc="17.2.2: 200-699 from TU, send"),
    row(K.NON_INVITE_SERVER, S.PROCEEDING, M.FAILURE, S.COMPLETED,
        actions={A.SEND_RESPONSE}, starts={T.TIMER_J}, sends=("486",),
        rfc="17.2.2: 200-699 from TU, send"),
    row(K.NON_INVITE_SERVER, S.PROCEEDING, M.REQUEST, S.PROCEEDING,
        actions={A.RESEND_RESPONSE}, sends=("100",),
        rfc="17.2.2: request retransmission, the last provisional again"),
    row(K.NON_INVITE_SERVER, S.COMPLETED, M.REQUEST, S.COMPLETED,
        actions={A.RESEND_RESPONSE}, sends=("200",),
        rfc="17.2.2: request retransmission, the final again"),
    row(K.NON_INVITE_SERVER, S.COMPLETED, T.TIMER_J, S.TERMINATED, rfc="17.2.2: timer J"),
]  # fmt: skip

OUR_ROWS = [
    # Documented in transitions.py: answering a retransmitted INVITE after our final
    # response at once, rather than absorbing it (RFC 6026 7.1 absorbs it in Accepted;
    # 17.2.1's Confirmed state only absorbs ACKs).
    row(K.INVITE_SERVER, S.ACCEPTED, M.REQUEST, S.ACCEPTED, actions={A.RESEND_RESPONSE},
        sends=("200",)),
    row(K.INVITE_SERVER, S.CONFIRMED, M.REQUEST, S.CONFIRMED, actions={A.RESEND_RESPONSE},
        sends=("486",)),
    # Timer B keeps running in Proceeding: the transaction ends quietly after 64*T1.
    row(K.INVITE_CLIENT, S.PROCEEDING, T.TIMER_B, S.TERMINATED),
]  # fmt: skip

ROWS = RFC_ROWS + OUR_ROWS

STATES = {
    K.INVITE_CLIENT: (S.CALLING, S.PROCEEDING, S.COMPLETED, S.ACCEPTED),
    K.NON_INVITE_CLIENT: (S.TRYING, S.PROCEEDING, S.COMPLETED),
    K.INVITE_SERVER: (S.PROCEEDING, S.COMPLETED, S.CONFIRMED, S.ACCEPTED),
    K.NON_INVITE_SERVER: (S.TRYING, S.PROCEEDING, S.COMPLETED),
}
RESPONSES = (M.PROVISIONAL, M.SUCCESS, M.FAILURE)
EVENTS: dict[TxKind, tuple[TxEvent, ...]] = {
    K.INVITE_CLIENT: (*RESPONSES, T.TIMER_A, T.TIMER_B, T.TIMER_D, T.TIMER_M),
    K.NON_INVITE_CLIENT: (*RESPONSES, T.TIMER_E, T.TIMER_F, T.TIMER_K),
    K.INVITE_SERVER: (
        *RESPONSES,
        M.REQUEST,
        M.ACK,
        T.TIMER_G,
        T.TIMER_H,
        T.TIMER_I,
        T.TIMER_L,
    ),
    K.NON_INVITE_SERVER: (*RESPONSES, M.REQUEST, T.TIMER_J),
}
STATUS = {M.PROVISIONAL: 180, M.SUCCESS: 200, M.FAILURE: 486}


# -- the table ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ROWS, ids=str)
def test_the_table_says_what_the_rfc_says(case: Row) -> None:
    step = transition(case.kind, case.state, case.event)
    assert step is not None, f"{case.rfc}: not in the table"
    assert step.state is case.then
    assert frozenset(step.actions) == case.actions
    assert frozenset(step.start) == case.starts
    assert case.stops <= frozenset(step.stop)


def test_every_other_event_is_absorbed() -> None:
    """Pairs the RFC does not list: the table has no step (the state stays, nothing sent)."""
    listed = {(r.kind, r.state, r.event) for r in ROWS}
    for kind, states in STATES.items():
        for state, event in itertools.product(states, EVENTS[kind]):
            if (kind, state, event) not in listed:
                assert transition(kind, state, event) is None, (kind, state, event)
    table = {(k, s, e) for k, rows in TRANSITIONS.items() for (s, e) in rows}
    assert table == listed  # and the table holds nothing the rows above do not


def test_new_transactions_start_as_the_rfc_says() -> None:
    assert INITIAL == {
        K.INVITE_CLIENT: (S.CALLING, (T.TIMER_A, T.TIMER_B)),  # 17.1.1.2
        K.NON_INVITE_CLIENT: (S.TRYING, (T.TIMER_E, T.TIMER_F)),  # 17.1.2.2
        K.INVITE_SERVER: (S.PROCEEDING, ()),  # 17.2.1
        K.NON_INVITE_SERVER: (S.TRYING, ()),  # 17.2.2
    }


# -- the timers: RFC 3261 Table 4 (T1 0.5 s, T2 4 s, T4 5 s) ------------------------------

TIMING = Timing(t1=0.5, t2=4.0, t4=5.0)
TABLE_4 = {  # timer: (UDP, TCP); None: not run on a reliable transport
    T.TIMER_A: (0.5, None), T.TIMER_B: (32.0, 32.0), T.TIMER_D: (32.0, 0.0),
    T.TIMER_E: (0.5, None), T.TIMER_F: (32.0, 32.0), T.TIMER_G: (0.5, None),
    T.TIMER_H: (32.0, 32.0), T.TIMER_I: (5.0, 0.0), T.TIMER_J: (32.0, 0.0),
    T.TIMER_K: (5.0, 0.0),
    T.TIMER_L: (32.0, 32.0), T.TIMER_M: (32.0, 32.0),  # RFC 6026 §9: 64*T1
    T.RETRANSMIT_2XX: (0.5, None), T.ACK_TIMEOUT: (32.0, 32.0),  # RFC 3261 §13.3.1.4
    T.RELIABLE_1XX: (0.5, None), T.PRACK_TIMEOUT: (32.0, 32.0),  # RFC 3262 §3
    T.SESSION_REFRESH: (None, None), T.SESSION_EXPIRY: (None, None),  # RFC 4028: negotiated
}  # fmt: skip


@pytest.mark.parametrize("timer", list(SipTimer))
def test_timer_durations_follow_table_4(timer: SipTimer) -> None:
    udp, tcp = TABLE_4[timer]
    assert initial_delay(timer, TIMING, reliable=False) == udp
    assert initial_delay(timer, TIMING, reliable=True) == tcp


def test_retransmissions_back_off_as_17_1_1_2_and_17_1_2_2_say() -> None:
    def intervals(timer: SipTimer, count: int) -> list[float]:
        out = [TIMING.t1]
        while len(out) < count:
            out.append(backoff(timer, out[-1], TIMING))
        return out

    assert intervals(T.TIMER_A, 7) == [0.5, 1, 2, 4, 8, 16, 32]  # A doubles; B ends it
    for capped in (T.TIMER_E, T.TIMER_G, T.RETRANSMIT_2XX):
        assert intervals(capped, 6) == [0.5, 1, 2, 4, 4, 4]  # min(2x, T2)


# -- the same rows on a real user agent --------------------------------------------------------


def _peer_response(request: SipMessage, status: int) -> bytes:
    """What the phone we called answers (a To tag, a Contact, an SDP body on a 2xx)."""
    lines = [f"SIP/2.0 {status} X", *(f"Via: {v}" for v in request.headers.get_all("Via"))]
    lines.append(f"From: {request.headers.get('From')}")
    to = request.headers.get("To") or ""
    lines.append(f"To: {to};tag=phone-tag" if status > 100 else f"To: {to}")
    lines.append(f"Call-ID: {request.call_id}")
    lines.append(f"CSeq: {request.headers.get('CSeq')}")
    lines.append("Contact: <sip:agent@127.0.0.1:5999>")
    body = "v=0" if 200 <= status < 300 else ""
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def _options(branch: str = "z9hG4bK-opt") -> bytes:
    return (
        "OPTIONS sip:1000@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=probe\r\n"
        "To: <sip:1000@127.0.0.1>\r\nCall-ID: opt-1@test\r\nCSeq: 7 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class Live:
    """One transaction of `kind` in a real user agent, brought into `state`."""

    def __init__(self, kind: TxKind, state: TxState) -> None:
        self.kind = kind
        self.agent = SipUserAgent(SipSettings(port=5060), local_port=5060)
        # The amplification guard (tested on its own) would cap what we send to an
        # unverified source; here only the state machines are watched.
        self.agent.guard.verify(PEER[0])
        self.now = 0.0
        self.retransmission = b""
        self.tx = self._reach(state)
        assert self.tx.state is state
        self.agent.take_outgoing()

    def _tick(self) -> float:
        self.now += 0.01
        return self.now

    def _receive(self, data: bytes) -> list[SipEvent]:
        return self.agent.receive_datagram(data, PEER, self._tick())

    def _only(self, kind: TxKind) -> Transaction:
        (tx,) = [tx for tx in self.agent.live_transactions() if tx.kind is kind]
        return tx

    def _reach(self, state: TxState) -> Transaction:
        agent = self.agent
        match self.kind:
            case K.INVITE_CLIENT:
                agent.invite(target_uri="sip:agent@127.0.0.1:5999", destination=PEER,
                             transport="udp", sdp=b"offer", now=self.now)  # fmt: skip
                (self.request,) = parse_all([o.data for o in agent.take_outgoing()])
                tx = self._only(self.kind)
                status = {S.PROCEEDING: 180, S.COMPLETED: 486, S.ACCEPTED: 200}.get(state)
                if status is not None:
                    self._receive(_peer_response(self.request, status))
                return tx
            case K.NON_INVITE_CLIENT:  # our BYE, ending an answered call
                (call,) = self._receive(invite())
                assert isinstance(call, IncomingCall)
                agent.answer(call.leg_id, b"v=0", self._tick())
                (_trying, ok) = parse_all([o.data for o in agent.take_outgoing()])
                self._receive(in_dialog("ACK", to_tag=to_tag_of(ok), cseq=1))
                agent.hangup(call.leg_id, self._tick())
                (self.request,) = parse_all([o.data for o in agent.take_outgoing()])
                tx = self._only(self.kind)
                status = {S.PROCEEDING: 100, S.COMPLETED: 200}.get(state)
                if status is not None:
                    self._receive(_peer_response(self.request, status))
                return tx
            case K.INVITE_SERVER:
                self.retransmission = invite()
                (call,) = self._receive(self.retransmission)
                assert isinstance(call, IncomingCall)
                self.request = call.request
                tx = self._only(self.kind)
                if state is S.ACCEPTED:
                    agent.answer(call.leg_id, b"v=0", self._tick())
                    ok = parse_all([o.data for o in agent.take_outgoing()])[-1]
                    # The dialog's ACK (its own branch): the 2xx is no longer retransmitted.
                    self._receive(in_dialog("ACK", to_tag=to_tag_of(ok), cseq=1))
                elif state in (S.COMPLETED, S.CONFIRMED):
                    agent.reject(call.leg_id, 486, self._tick())
                    final = parse_all([o.data for o in agent.take_outgoing()])[-1]
                    if state is S.CONFIRMED:  # the ACK of a non-2xx: the INVITE's branch
                        ack = in_dialog("ACK", to_tag=to_tag_of(final), cseq=1,
                                        branch="z9hG4bK-1")  # fmt: skip
                        self._receive(ack)
                return tx
            case K.NON_INVITE_SERVER:
                self.retransmission = _options()
                self._receive(self.retransmission)  # answered at once: Completed
                tx = self._only(self.kind)
                self.request = tx.request
                if state is not S.COMPLETED:
                    # Our TU answers every non-INVITE request at once, so Trying and
                    # Proceeding are never seen from outside: start from a fresh one.
                    assert isinstance(tx, ServerTransaction)
                    tx.state, tx.last_response = S.TRYING, None
                    tx.timers.clear()
                    if state is S.PROCEEDING:
                        agent.step_tx(tx, M.PROVISIONAL, self._tu_response(100))
                return tx
        raise AssertionError(self.kind)

    def _tu_response(self, status: int) -> SipMessage:
        return build_response(self.request, status, to_tag="our-tag", server="test")

    def fire(self, event: TxEvent) -> list[SipEvent]:
        if isinstance(event, SipTimer):
            # Only the timer under test runs, so the agent's clock can jump to it.
            assert event in self.tx.timers, f"{event} is not running"
            for other in [t for t in self.tx.timers if t is not event]:
                del self.tx.timers[other]
            self.now = self.tx.timers[event]
            return self.agent.handle_timer(self.now)
        if event is M.REQUEST:
            return self._receive(self.retransmission)
        if event is M.ACK:
            assert isinstance(self.tx, ServerTransaction) and self.tx.last_response is not None
            final = parse_all([self.tx.last_response])[0]
            ack = in_dialog("ACK", to_tag=to_tag_of(final), cseq=1, branch="z9hG4bK-1")
            return self._receive(ack)
        status = STATUS[event]
        if self.kind in (K.INVITE_CLIENT, K.NON_INVITE_CLIENT):
            return self._receive(_peer_response(self.request, status))
        self.agent.step_tx(self.tx, event, self._tu_response(status))  # the TU answers
        return []

    def sent(self) -> tuple[str, ...]:
        messages = parse_all([o.data for o in self.agent.take_outgoing()])
        return tuple(m.method or str(m.status) for m in messages)

    def live(self) -> bool:
        return any(tx is self.tx for tx in self.agent.live_transactions())


@pytest.mark.parametrize("case", ROWS, ids=str)
def test_the_user_agent_does_what_the_rfc_says(case: Row) -> None:
    live = Live(case.kind, case.state)
    events = live.fire(case.event)
    assert live.sent() == case.sends
    assert [type(e) for e in events] == ([case.tells] if case.tells else [])
    if case.then is S.TERMINATED:
        assert not live.live()  # destroyed at once (17.1.1.2 and the like)
        return
    assert live.live()
    assert live.tx.state is case.then
    assert case.starts <= set(live.tx.timers)
    assert not case.stops & set(live.tx.timers)
    if case.event in case.starts:  # a retransmission timer restarted by its own firing
        assert live.tx.timers[case.event] - live.now == pytest.approx(2 * TIMING.t1)


@pytest.mark.parametrize(
    ("kind", "state"), [(k, s) for k, states in STATES.items() for s in states], ids=str
)
def test_absorbed_events_change_nothing_on_the_wire(kind: TxKind, state: TxState) -> None:
    listed = {(r.kind, r.state, r.event) for r in ROWS}
    for event in EVENTS[kind]:
        if (kind, state, event) in listed:
            continue
        live = Live(kind, state)
        before = dict(live.tx.timers)
        message = live._tu_response(STATUS[event]) if event in STATUS else None
        assert live.agent.step_tx(live.tx, event, message) is False
        assert live.sent() == ()
        assert live.tx.state is state
        assert live.tx.timers == before
