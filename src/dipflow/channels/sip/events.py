"""What the sans-IO SIP user agent reports to its driver, and what it asks to send.

Layer 4 (channels).
"""

from __future__ import annotations

from dataclasses import dataclass

from dipflow.channels.sip.message import SipMessage
from dipflow.channels.sip.rtp import DtmfDigit

Address = tuple[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """Bytes to send: a datagram (UDP) or a message on the connection to `destination` (TCP)."""

    data: bytes
    destination: Address
    transport: str
    fallback: Address | None = None
    """TCP: where to open a connection when none to `destination` is open (routing.py)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingCall:
    """A new INVITE. Answer with `SipUserAgent.answer` or `reject` (100 Trying is already sent)."""

    leg_id: str
    request: SipMessage
    source: Address
    transport: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallConfirmed:
    """The ACK for our 2xx arrived: the dialog is confirmed (RFC 3261 §13.3.1.4). `body`:
    the SDP answer when our 2xx made the offer (the INVITE had none, RFC 3264 §5)."""

    leg_id: str
    body: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReofferAcked:
    """The ACK for our 2xx to a re-INVITE; `body` is the answer when that 2xx offered."""

    leg_id: str
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCancelled:
    """CANCEL before we answered; 200 (CANCEL) and 487 (INVITE) are already sent (§9.2)."""

    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallTerminated:
    """The peer ended an established leg ("bye"), or never ACKed our 2xx ("no-ack")."""

    leg_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReOffer:
    """A re-INVITE (e.g. hold, RFC 3264 §8.4). Answer with `SipUserAgent.answer_reoffer`."""

    leg_id: str
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class InfoDigit:
    """A key press sent as SIP INFO (`application/dtmf-relay` or `application/dtmf`)."""

    leg_id: str
    digit: DtmfDigit


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingProgress:
    """A provisional response to our INVITE; `body`: its SDP (early media, 183)."""

    leg_id: str
    status: int
    body: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingAnswered:
    """Our INVITE was answered (2xx); the ACK is sent. `body` is the SDP answer."""

    leg_id: str
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingFailed:
    """Our INVITE got a final error response (or timed out: 408)."""

    leg_id: str
    status: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRegistered:
    user: str
    contact: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestDone:
    """The final response to a request of ours (`SipUserAgent.send_request` /
    `send_in_dialog`); `response` None: it timed out (status 408)."""

    request_id: str
    status: int
    response: SipMessage | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Notified:
    """A NOTIFY in a dialog (answered 200): the progress of a REFER we sent (RFC 3515)."""

    leg_id: str
    event: str
    body: bytes
    terminated: bool
    """Subscription-State: terminated (the last NOTIFY of the subscription)."""


SipEvent = (
    IncomingCall
    | CallConfirmed
    | ReofferAcked
    | CallCancelled
    | CallTerminated
    | ReOffer
    | InfoDigit
    | OutgoingProgress
    | OutgoingAnswered
    | OutgoingFailed
    | AgentRegistered
    | RequestDone
    | Notified
)
