"""Transaction and dialog state of the SIP user agent (RFC 3261 §17, §12). Layer 4 (channels).

Plain mutable records. A transaction's state changes only as `transitions.py` says
(`AgentCore.step_tx` carries the steps out); dialogs are driven by `agent.py` and
`client.py`. Every timer of a record sits in its `timers` map (timer -> absolute
deadline) and is mirrored in the agent's heap; a heap entry whose deadline no longer
matches the record's is stale and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from dipflow.channels.sip.events import Address
from dipflow.channels.sip.message import SipMessage
from dipflow.channels.sip.session_timer import SessionTimer
from dipflow.channels.sip.timers import SipTimer


class TxState(StrEnum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    """RFC 6026 §7.1: after a 2xx, absorb retransmissions instead of terminating at once."""
    TERMINATED = "terminated"


class TxKind(StrEnum):
    """The four transaction state machines of RFC 3261 §17."""

    INVITE_CLIENT = "INVITE client"
    NON_INVITE_CLIENT = "non-INVITE client"
    INVITE_SERVER = "INVITE server"
    NON_INVITE_SERVER = "non-INVITE server"


class LegState(StrEnum):
    EARLY = "early"
    """INVITE received (or sent), no final answer yet."""
    ANSWERED = "answered"
    """2xx sent, waiting for the ACK."""
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


ServerKey = tuple[str, str, int | None, str]
"""(branch, sent-by host, sent-by port, method) - §17.2.3; ACK and CANCEL map to INVITE's."""

ClientKey = tuple[str, str]
"""(branch, method) - §17.1.3."""


@dataclass(slots=True, kw_only=True)
class ServerTransaction:
    key: ServerKey
    request: SipMessage
    source: Address
    transport: str
    is_invite: bool
    leg_id: str | None = None
    state: TxState = TxState.PROCEEDING
    last_response: bytes | None = None
    interval: float = 0.0
    """The current interval of the retransmission timer (G)."""
    timers: dict[SipTimer, float] = field(default_factory=dict)

    @property
    def kind(self) -> TxKind:
        return TxKind.INVITE_SERVER if self.is_invite else TxKind.NON_INVITE_SERVER


@dataclass(slots=True, kw_only=True)
class ClientTransaction:
    key: ClientKey
    request: SipMessage
    data: bytes
    destination: Address
    transport: str
    is_invite: bool
    leg_id: str | None = None
    fallback: Address | None = None
    """TCP: where to connect if the connection to `destination` is gone (routing.py)."""
    state: TxState = TxState.CALLING
    ack: bytes | None = None
    """For INVITE: the ACK to resend on a retransmitted final response."""
    interval: float = 0.0
    """The current interval of the retransmission timer (A or E)."""
    timers: dict[SipTimer, float] = field(default_factory=dict)

    @property
    def kind(self) -> TxKind:
        return TxKind.INVITE_CLIENT if self.is_invite else TxKind.NON_INVITE_CLIENT


@dataclass(slots=True, kw_only=True)
class Leg:
    """One call leg: a dialog once tags are known (§12). `uas`: the peer called us."""

    leg_id: str
    uas: bool
    call_id: str
    local_tag: str
    remote_tag: str | None
    local_party: str
    """The From (UAC) or To (UAS) value we put in our requests, with our tag."""
    remote_party: str
    """The peer's From/To value (its tag added once known)."""
    remote_target: str
    route_set: list[str]
    peer: Address
    transport: str
    invite: SipMessage
    invite_tx: ServerKey | None = None
    """UAS: the server transaction of the INVITE (answered through it)."""
    state: LegState = LegState.EARLY
    local_cseq: int = 1
    remote_cseq: int = 0
    ok_response: bytes | None = None
    """The 2xx we retransmit until the ACK (§13.3.1.4), for the initial INVITE or a re-INVITE."""
    ack: bytes | None = None
    """UAC: the ACK we resend when a 2xx is retransmitted (§13.2.2.4)."""
    interval: float = 0.0
    """The current interval of the 2xx retransmission timer."""
    provisional_seen: bool = False
    cancel_pending: bool = False
    bye_pending: bool = False
    reoffer_tx: ServerKey | None = None
    reliable: bool = False
    """UAS: the INVITE required 100rel - provisionals are sent reliably (RFC 3262)."""
    rseq: int = 0
    """The RSeq of our last reliable provisional (0: none yet)."""
    unacked_1xx: bytes | None = None
    """The reliable provisional we retransmit until its PRACK."""
    session_timer: SessionTimer | None = None
    """The dialog's session timer (RFC 4028), once a 2xx applied it."""
    pending_timer: SessionTimer | None = None
    """The timer negotiated for the INVITE/UPDATE being answered (applied with the 2xx)."""
    local_sdp: bytes = b""
    """Our last session description (a re-INVITE refresh repeats it: no change, RFC 3264 §8)."""
    peer_methods: frozenset[str] = frozenset()
    """The methods the peer's Allow listed (UPDATE: refresh with it, RFC 4028 §7.4)."""
    timers: dict[SipTimer, float] = field(default_factory=dict)

    @property
    def dialog_key(self) -> tuple[str, str, str] | None:
        if self.remote_tag is None:
            return None
        return (self.call_id, self.local_tag, self.remote_tag)
