"""The SIP transaction state machines, as data (RFC 3261 §17, RFC 6026). Layer 4 (channels).

One table for the four kinds of transaction: (kind, state, event) -> `Step` (the next
state, the timers stopped and started, the actions). `AgentCore.step_tx` looks it up and
carries the step out; nothing else changes a transaction's state.

Events are what the RFC's figures label the arrows with: a response (received by a
client transaction, handed down by the TU to a server transaction), a retransmitted
request or an ACK reaching a server transaction, or one of its timers firing. A
retransmission timer restarted by its own firing backs off (`timers.backoff`).

Pairs not listed are absorbed: the state stays and nothing is sent (a late response, a
timer that no longer matters). Where we differ from the RFC's figures, on purpose:

* INVITE server, Accepted or Confirmed: a retransmitted INVITE gets the last response
  again (RFC 6026 absorbs it and leaves the 2xx to the TU's own retransmissions). The
  retransmission says the peer has not heard us; answering at once costs one datagram and
  spares the caller up to a T1 of dead air.
* INVITE client, Proceeding: timer B still ends the transaction, without telling the TU.
  A phone that rings for 64*T1 is given up by the channel long before
  (`agent_ring_timeout_s`, which CANCELs it).
* Non-INVITE client, Proceeding: timer E keeps doubling up to T2 rather than jumping to T2.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from dipflow.channels.sip.timers import SipTimer
from dipflow.channels.sip.transactions import TxKind, TxState


class TxInput(StrEnum):
    """What happens to a transaction, besides its timers."""

    PROVISIONAL = "1xx"
    """A client receives a 1xx; the TU gives a server transaction a 1xx to send."""
    SUCCESS = "2xx"
    FAILURE = "300-699"
    REQUEST = "request"
    """A server transaction receives a retransmission of its request."""
    ACK = "ACK"
    """An INVITE server transaction receives the ACK of its non-2xx final response."""


TxEvent = TxInput | SipTimer


class TxAction(StrEnum):
    SEND_RESPONSE = "send response"
    """Server: send the TU's response and keep it as the last response."""
    RESEND_RESPONSE = "resend response"
    """Server: send the last response again (if any was sent)."""
    RESEND_REQUEST = "resend request"
    """Client: send the request again."""
    SEND_ACK = "send ACK"
    """INVITE client: send the ACK of the non-2xx final (built once, in the transaction)."""
    TO_TU = "response to TU"
    """Client: hand the response to the TU (the dialog: progress, answer, failure)."""
    TIMEOUT_TO_TU = "timeout to TU"
    """Client: tell the TU that the request timed out (an agent leg fails with 408)."""


@dataclass(frozen=True, slots=True)
class Step:
    state: TxState
    """The next state; `TERMINATED`: the transaction is destroyed (all its timers too)."""
    actions: tuple[TxAction, ...] = ()
    stop: tuple[SipTimer, ...] = ()
    start: tuple[SipTimer, ...] = ()


K = TxKind
S = TxState
Msg = TxInput
T = SipTimer
A = TxAction

TERMINATE: Final = Step(S.TERMINATED)

INITIAL: Final[dict[TxKind, tuple[TxState, tuple[SipTimer, ...]]]] = {
    K.INVITE_CLIENT: (S.CALLING, (T.TIMER_A, T.TIMER_B)),
    K.NON_INVITE_CLIENT: (S.TRYING, (T.TIMER_E, T.TIMER_F)),
    K.INVITE_SERVER: (S.PROCEEDING, ()),
    K.NON_INVITE_SERVER: (S.TRYING, ()),
}
"""The state a new transaction starts in, and the timers it starts (a client sends its
request first)."""

_INVITE_CLIENT: Final[dict[tuple[TxState, TxEvent], Step]] = {
    # §17.1.1.2 Figure 5, with RFC 6026 §8.4's Accepted state.
    (S.CALLING, T.TIMER_A): Step(S.CALLING, (A.RESEND_REQUEST,), start=(T.TIMER_A,)),
    (S.CALLING, T.TIMER_B): Step(S.TERMINATED, (A.TIMEOUT_TO_TU,)),
    (S.CALLING, Msg.PROVISIONAL): Step(S.PROCEEDING, (A.TO_TU,), stop=(T.TIMER_A,)),
    (S.CALLING, Msg.SUCCESS): Step(
        S.ACCEPTED, (A.TO_TU,), stop=(T.TIMER_A, T.TIMER_B), start=(T.TIMER_M,)
    ),
    (S.CALLING, Msg.FAILURE): Step(
        S.COMPLETED, (A.SEND_ACK, A.TO_TU), stop=(T.TIMER_A, T.TIMER_B), start=(T.TIMER_D,)
    ),
    (S.PROCEEDING, Msg.PROVISIONAL): Step(S.PROCEEDING, (A.TO_TU,)),
    (S.PROCEEDING, Msg.SUCCESS): Step(
        S.ACCEPTED, (A.TO_TU,), stop=(T.TIMER_A, T.TIMER_B), start=(T.TIMER_M,)
    ),
    (S.PROCEEDING, Msg.FAILURE): Step(
        S.COMPLETED, (A.SEND_ACK, A.TO_TU), stop=(T.TIMER_A, T.TIMER_B), start=(T.TIMER_D,)
    ),
    (S.PROCEEDING, T.TIMER_B): TERMINATE,  # ours: see the module's docstring
    (S.COMPLETED, Msg.FAILURE): Step(S.COMPLETED, (A.SEND_ACK,)),
    (S.COMPLETED, T.TIMER_D): TERMINATE,
    (S.ACCEPTED, Msg.SUCCESS): Step(S.ACCEPTED, (A.TO_TU,)),
    (S.ACCEPTED, T.TIMER_M): TERMINATE,
}

_NON_INVITE_CLIENT: Final[dict[tuple[TxState, TxEvent], Step]] = {
    # §17.1.2.2 Figure 6.
    (S.TRYING, T.TIMER_E): Step(S.TRYING, (A.RESEND_REQUEST,), start=(T.TIMER_E,)),
    (S.TRYING, T.TIMER_F): Step(S.TERMINATED, (A.TIMEOUT_TO_TU,)),
    (S.TRYING, Msg.PROVISIONAL): Step(S.PROCEEDING, (A.TO_TU,)),
    (S.TRYING, Msg.SUCCESS): Step(
        S.COMPLETED, (A.TO_TU,), stop=(T.TIMER_E, T.TIMER_F), start=(T.TIMER_K,)
    ),
    (S.TRYING, Msg.FAILURE): Step(
        S.COMPLETED, (A.TO_TU,), stop=(T.TIMER_E, T.TIMER_F), start=(T.TIMER_K,)
    ),
    (S.PROCEEDING, T.TIMER_E): Step(S.PROCEEDING, (A.RESEND_REQUEST,), start=(T.TIMER_E,)),
    (S.PROCEEDING, T.TIMER_F): Step(S.TERMINATED, (A.TIMEOUT_TO_TU,)),
    (S.PROCEEDING, Msg.PROVISIONAL): Step(S.PROCEEDING, (A.TO_TU,)),
    (S.PROCEEDING, Msg.SUCCESS): Step(
        S.COMPLETED, (A.TO_TU,), stop=(T.TIMER_E, T.TIMER_F), start=(T.TIMER_K,)
    ),
    (S.PROCEEDING, Msg.FAILURE): Step(
        S.COMPLETED, (A.TO_TU,), stop=(T.TIMER_E, T.TIMER_F), start=(T.TIMER_K,)
    ),
    (S.COMPLETED, T.TIMER_K): TERMINATE,
}

_INVITE_SERVER: Final[dict[tuple[TxState, TxEvent], Step]] = {
    # §17.2.1 Figure 7, with RFC 6026 §7.1's Accepted state.
    (S.PROCEEDING, Msg.PROVISIONAL): Step(S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.PROCEEDING, Msg.SUCCESS): Step(S.ACCEPTED, (A.SEND_RESPONSE,), start=(T.TIMER_L,)),
    (S.PROCEEDING, Msg.FAILURE): Step(
        S.COMPLETED, (A.SEND_RESPONSE,), start=(T.TIMER_G, T.TIMER_H)
    ),
    (S.PROCEEDING, Msg.REQUEST): Step(S.PROCEEDING, (A.RESEND_RESPONSE,)),
    (S.COMPLETED, Msg.REQUEST): Step(S.COMPLETED, (A.RESEND_RESPONSE,)),
    (S.COMPLETED, T.TIMER_G): Step(S.COMPLETED, (A.RESEND_RESPONSE,), start=(T.TIMER_G,)),
    (S.COMPLETED, T.TIMER_H): TERMINATE,
    (S.COMPLETED, Msg.ACK): Step(S.CONFIRMED, stop=(T.TIMER_G, T.TIMER_H), start=(T.TIMER_I,)),
    (S.CONFIRMED, Msg.REQUEST): Step(S.CONFIRMED, (A.RESEND_RESPONSE,)),  # ours
    (S.CONFIRMED, T.TIMER_I): TERMINATE,
    (S.ACCEPTED, Msg.SUCCESS): Step(S.ACCEPTED, (A.SEND_RESPONSE,)),
    (S.ACCEPTED, Msg.REQUEST): Step(S.ACCEPTED, (A.RESEND_RESPONSE,)),  # ours
    (S.ACCEPTED, T.TIMER_L): TERMINATE,
}

_NON_INVITE_SERVER: Final[dict[tuple[TxState, TxEvent], Step]] = {
    # §17.2.2 Figure 8.
    (S.TRYING, Msg.PROVISIONAL): Step(S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.TRYING, Msg.SUCCESS): Step(S.COMPLETED, (A.SEND_RESPONSE,), start=(T.TIMER_J,)),
    (S.TRYING, Msg.FAILURE): Step(S.COMPLETED, (A.SEND_RESPONSE,), start=(T.TIMER_J,)),
    (S.PROCEEDING, Msg.PROVISIONAL): Step(S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.PROCEEDING, Msg.SUCCESS): Step(S.COMPLETED, (A.SEND_RESPONSE,), start=(T.TIMER_J,)),
    (S.PROCEEDING, Msg.FAILURE): Step(S.COMPLETED, (A.SEND_RESPONSE,), start=(T.TIMER_J,)),
    (S.PROCEEDING, Msg.REQUEST): Step(S.PROCEEDING, (A.RESEND_RESPONSE,)),
    (S.COMPLETED, Msg.REQUEST): Step(S.COMPLETED, (A.RESEND_RESPONSE,)),
    (S.COMPLETED, T.TIMER_J): TERMINATE,
}

TRANSITIONS: Final[dict[TxKind, dict[tuple[TxState, TxEvent], Step]]] = {
    K.INVITE_CLIENT: _INVITE_CLIENT,
    K.NON_INVITE_CLIENT: _NON_INVITE_CLIENT,
    K.INVITE_SERVER: _INVITE_SERVER,
    K.NON_INVITE_SERVER: _NON_INVITE_SERVER,
}
"""kind -> (state, event) -> step."""


def transition(kind: TxKind, state: TxState, event: TxEvent) -> Step | None:
    """The step for `event`; None when the transaction absorbs it (nothing changes)."""
    return TRANSITIONS[kind].get((state, event))


def response_input(status: int) -> TxInput:
    """A response's class as an event (§7.2: 1xx provisional, 2xx success, else final)."""
    if status < 200:
        return TxInput.PROVISIONAL
    if status < 300:
        return TxInput.SUCCESS
    return TxInput.FAILURE
