"""Configuration of the SIP channel (one pydantic model, a docstring per field).

Layer 4 (channels).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from dipflow.channels.sip.trunkconfig import TlsListener, TrunkSettings, check_trunks

Transport = Literal["udp", "tcp"]


class SipSettings(BaseModel):
    """Where the SIP channel listens, how it paces media and what it tolerates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    """Address to bind SIP and RTP sockets to."""
    port: int = Field(default=5060, ge=0, le=65535)
    """SIP port (UDP and TCP); 0 picks a free port (tests)."""
    transports: tuple[Transport, ...] = ("udp", "tcp")
    """Transports to listen on."""
    advertised_host: str | None = None
    """Address written into Via/Contact/SDP when `host` is a wildcard (0.0.0.0)."""
    rtp_port_min: int = Field(default=20000, ge=1024, le=65534)
    """Lowest RTP port (even ports are used, RFC 3550 §11)."""
    rtp_port_max: int = Field(default=29999, ge=1025, le=65535)
    """Highest RTP port."""
    rtp_latch_window_s: float = Field(default=2.0, gt=0, le=30)
    """After the answer (and each re-offer), how long a better source may still take over a
    leg's RTP once one has latched (symmetric RTP for phones behind NAT; see `latch.py`)."""
    codecs: tuple[Literal["PCMU", "PCMA", "G722"], ...] = ("PCMU", "PCMA", "G722")
    """Codecs we accept, in our order of preference for offers we make (an agent's phone
    is offered the caller's codec first, so that the bridge need not transcode)."""
    t1_s: float = Field(default=0.5, gt=0)
    """RFC 3261 T1 (RTT estimate): retransmission base; 64*T1 is the transaction timeout."""
    t2_s: float = Field(default=4.0, gt=0)
    """RFC 3261 T2: the longest retransmission interval."""
    t4_s: float = Field(default=5.0, gt=0)
    """RFC 3261 T4: how long the network may keep a message (timer I)."""
    max_message_bytes: int = Field(default=8192, ge=1024, le=65535)
    """Larger SIP messages are dropped unanswered (no amplification, bounded memory)."""
    max_transactions: int = Field(default=20000, ge=16)
    """Live server transactions; beyond this new requests are dropped unanswered (overload)."""
    tcp_max_connections: int = Field(default=1024, ge=1)
    """Open TCP connections in all; never more than a quarter of the process's file
    descriptor limit (`ulimit -n`), whatever this says: the rest is for RTP and the web."""
    tcp_max_connections_per_source: int = Field(default=32, ge=1)
    """Open TCP connections from one address (trusted peers are exempt)."""
    tcp_first_message_timeout_s: float = Field(default=10.0, gt=0)
    """A new TCP connection that has not sent a complete message by then is closed."""
    tcp_message_timeout_s: float = Field(default=10.0, gt=0)
    """A message must arrive whole within this long of its first byte (no endless headers)."""
    tcp_idle_timeout_s: float = Field(default=600.0, gt=0)
    """A TCP connection silent this long is closed, unless an agent's phone registered
    over it (phones keep theirs alive with CRLF keep-alives, RFC 5626, or re-REGISTERs)."""
    max_calls: int = Field(default=2000, ge=1)
    """Concurrent calls; beyond this new INVITEs get 503."""
    invite_rate_per_s: float = Field(default=20.0, gt=0)
    """New INVITEs per second accepted from one source address (token bucket rate)."""
    invite_burst: int = Field(default=100, ge=1)
    """Token bucket size for INVITEs per source."""
    garbage_rate_per_s: float = Field(default=2.0, gt=0)
    """Unparseable datagrams per second tolerated from one source before it is ignored."""
    garbage_burst: int = Field(default=20, ge=1)
    """Token bucket size for garbage per source."""
    amplification_factor: float = Field(default=3.0, ge=1.0)
    """An unverified source gets at most this many bytes back per byte it sent (as QUIC,
    RFC 9000 §8.1). A source is verified once it echoes our tag (ACK, BYE) or registers."""
    garbage_penalty_s: float = Field(default=10.0, ge=0)
    """How long a source that sent garbage beyond its bucket is ignored."""
    tracked_sources: int = Field(default=10000, ge=16)
    """How many source addresses the rate limiter and amplification ledger remember."""
    trusted_peers: tuple[str, ...] = ()
    """Carrier trunks, SBCs and proxies: IP addresses or networks (`192.0.2.10`,
    `198.51.100.0/24`). Their P-Asserted-Identity is believed (RFC 3325 trust domain) and
    their callers count as identified; they are never put in the penalty box (forged
    garbage "from" them must not silence a trunk) and their INVITEs have their own
    buckets (`trusted_invite_*`), per address and port."""
    trusted_invite_rate_per_s: float = Field(default=200.0, gt=0)
    """New INVITEs per second accepted from one trusted peer (address and port)."""
    trusted_invite_burst: int = Field(default=2000, ge=1)
    """Token bucket size for INVITEs per trusted peer."""
    realm: str = "dipflow"
    """Digest realm of the registrar."""
    registrar_users: dict[str, SecretStr] = Field(default_factory=dict)
    """Agents' softphones allowed to REGISTER: username -> password."""
    register_max_expires_s: int = Field(default=3600, ge=60)
    """Longest registration we grant."""
    register_nonce_lifetime_s: float = Field(default=120.0, ge=5, le=3600)
    """How long a digest nonce may be answered; then the client is challenged again
    (`stale=true`). Each answer must carry a higher nonce count than the last (RFC 7616)."""
    register_free_failures: int = Field(default=5, ge=1)
    """Wrong REGISTER answers allowed (per source, per user, per user and source) before
    each further one locks that key out for twice as long as the last."""
    register_lockout_base_s: float = Field(default=1.0, gt=0)
    """The first lock-out after the free failures."""
    register_lockout_max_s: float = Field(default=300.0, gt=0)
    """The longest lock-out."""
    register_lockout_forget_s: float = Field(default=900.0, gt=0)
    """A key with no wrong answer for this long starts counting from zero again."""
    rtp_timeout_s: float = Field(default=60.0, ge=0)
    """A confirmed call whose two-way stream brings no RTP for this long is ended (BYE,
    and the flow hears the caller hang up): a caller gone without a BYE. 0: never. Raise
    it for phones that send nothing at all during silence (VAD without comfort noise)."""
    rtp_hold_timeout_s: float = Field(default=0.0, ge=0)
    """The same for a stream the peer holds (sendonly, inactive, c=0.0.0.0), where silence
    is normal. 0: never (session timers, RFC 4028, are the check for held calls)."""
    rtp_unreachable_s: float = Field(default=2.0, ge=0)
    """A call whose peer's RTP port answers ICMP port unreachable for this long, with
    nothing received meanwhile, is ended. 0: ignore ICMP (the RTP socket is then not
    connected to the peer)."""
    agent_ring_timeout_s: float = Field(default=30.0, gt=0)
    """How long an agent's phone may ring before the leg counts as not answered."""
    answer_delay_s: float = Field(default=0.0, ge=0, le=60)
    """Ring (180) this long before answering; 0 answers at once."""
    media_mode: Literal["inline", "process", "thread"] = "process"
    """Where RTP is paced. "process" (default): the media worker, a child process with its
    own GIL and collector (`media_worker.py`): no frame waits behind signalling, the
    engine, the runtime or rendering. "thread": the same worker in a thread of this
    process (shared GIL: measured worse). "inline": on this event loop (`media.py`'s
    clock; one process, fine for a few hundred calls). Every media feature works in
    each (docs/sip.md, measured in docs/benchmarks.md)."""
    media_loop: Literal["asyncio", "uvloop"] = "uvloop"
    """The media worker's event loop (uvloop comes with uvicorn[standard]; asyncio, with a
    warning, where it is not installed)."""
    kernel_relay: Literal["auto", "off"] = "auto"
    """Bridged calls' RTP forwarded by the kernel (nftables), not by the media worker, when
    both legs allow it (plain RTP, one codec: `kernel_bridges.py`). "auto": where the
    kernel lets the worker (CAP_NET_ADMIN; else a warning, and Python relays); "off":
    always Python. Media modes "process" and "thread" only (docs/sip.md)."""
    thin_unheard_audio: bool = True
    """A leg whose audio nobody hears (a queued caller: not bridged, not tapped, keys as
    RFC 4733 events) gets a socket filter that lets the kernel drop 15 of its 16 audio
    packets before they wake the media worker; events, RTCP and the 16th pass (liveness,
    latching). Media modes "process" and "thread" (`thinning.py`, docs/sip.md)."""
    media_realtime_priority: int = Field(default=0, ge=0, le=99)
    """SCHED_FIFO priority of the media worker (mode "process" or "thread"); 0 keeps the
    normal class. Needs CAP_SYS_NICE; refused -> a warning, and the normal class."""
    media_slice_us: int = Field(default=100, ge=0, le=100_000)
    """The media worker's slice in the normal class, in microseconds (0: the kernel's
    default). A short slice gives the waking pacer an early EEVDF deadline, so it preempts
    whatever else runs on its core instead of waiting for that to use up its slice (Linux
    6.12+; no privilege; the kernel clamps it to 100-100,000 µs; refused -> a warning and
    the default). Ignored in the real-time class. docs/sip.md, docs/benchmarks.md."""
    rtcp_interval_s: float = Field(default=5.0, gt=0)
    """Mean interval between our RTCP reports (RFC 3550 §6.2: 5 s minimum for small
    sessions; each one is drawn between 0.5 and 1.5 times it)."""
    session_expires_s: int = Field(default=1800, ge=1)
    """Session timer (RFC 4028) we propose when a caller supports timers without asking for
    an interval: the caller refreshes the session within it, or we end the call with a BYE."""
    session_min_se_s: int = Field(default=90, ge=1)
    """The shortest session interval we accept (Min-SE); less gets 422. RFC 4028 §4 says at
    least 90 s; lower values are for tests."""
    freeze_gc_after_start: bool = True
    """`gc.freeze()` once started: start-up objects leave the collector's scans, which
    otherwise stall RTP pacing for ~100 ms on every full collection."""
    user_agent: str = "dipflow"
    """Server / User-Agent header value."""
    tls: TlsListener | None = None
    """The TLS (SIPS) listener and our certificate; none: no TLS (see docs/trunks.md)."""
    trunks: tuple[TrunkSettings, ...] = ()
    """Carriers, PBXs and SBCs: inbound numbers, registration, outbound calls (docs/trunks.md)."""
    dns_servers: tuple[str, ...] = ()
    """DNS servers for trunk and agent host names (`10.0.0.2`, `127.0.0.1:5353`); empty:
    the system's (/etc/resolv.conf). Answers are cached for their TTL."""
    dns_timeout_s: float = Field(default=2.0, gt=0, le=30)
    """How long one DNS lookup may take before the next server (or target) is tried."""

    @model_validator(mode="after")
    def _check_ranges(self) -> SipSettings:
        if self.rtp_port_max - self.rtp_port_min < 2:
            raise ValueError("the RTP port range must hold at least two ports")
        if not self.transports:
            raise ValueError("at least one transport")
        for peer in self.trusted_peers:
            try:
                ipaddress.ip_network(peer, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_peers: {peer!r} is not an IP address or network"
                ) from None
        check_trunks(self.trunks)
        return self

    @property
    def public_host(self) -> str:
        if self.advertised_host:
            return self.advertised_host
        return "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
