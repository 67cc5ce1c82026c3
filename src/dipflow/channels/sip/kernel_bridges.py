"""Which of the media worker's bridged pairs the kernel relays. Layer 4 (channels).

The worker asks `sync` twice a second: a pair both of whose legs are bridged to each
other and qualify goes to the kernel (`kernel_relay.py`), and its two sessions leave the
pacer (they send nothing of their own while the kernel forwards the phones' packets). A
pair that stops qualifying, is unbridged or closed comes back at once (`release`, called
by the worker before it applies such a command): the sessions are paced again, with a
marker bit on their next packet, as after any change of source.

A pair qualifies when nothing in between needs Python:

* both legs plain RTP (SRTP re-encrypts each packet with the other leg's keys);
* the same codec and the same telephone-event payload type (no transcoding, no renumbering);
* no tap on either leg (a media stream to the flow, a recording);
* both legs sending (not on hold) and both peers latched, that is proven by their own
  packets (`latch.py`), at addresses the signalling verified (the amplification ledger):
  the kernel sends each peer only what the other peer sends, at the rate it sends it;
* IPv4, and, for a peer on another host, IP forwarding enabled (the kernel's packets to
  it are forwarded, not sent by a socket).

While relayed, what the kernel forwarded counts as received for the RTP watchdog: the
routes' counters are read every `COUNT_INTERVAL_S` (by the helper process: listing a
thousand counters takes libnftables ~11 ms, which the pacer must not wait for).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import Iterable
from pathlib import Path

from dipflow.channels.sip.events import Address
from dipflow.channels.sip.kernel_link import KernelLink
from dipflow.channels.sip.kernel_relay import Route
from dipflow.channels.sip.media import MediaClock, RtpSession

log = logging.getLogger(__name__)

COUNT_INTERVAL_S = 2.0
RETRY_S = 2.0
"""A pair refused after its addresses were looked up is looked at again this much later."""
_IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def ip_forwarding() -> bool:
    """Whether this host forwards IPv4 (needed to relay to a peer on another host)."""
    try:
        return _IP_FORWARD.read_text().strip() == "1"
    except OSError:
        return False


def local_address(session: RtpSession, peer: Address) -> Address | None:
    """The address `peer`'s packets reach this session's socket at (IPv4 only)."""
    sock = session.sock
    if sock is None or sock.family != socket.AF_INET:
        return None
    host, port = sock.getsockname()[:2]
    if host == "0.0.0.0":  # bound to every address: the one routing picks towards the peer
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(peer)  # a UDP connect sends nothing: it only routes
            except OSError:
                return None
            host = probe.getsockname()[0]
    return str(host), int(port)


def _alike(a: RtpSession, b: RtpSession) -> bool:
    """Both legs open, sending, plain RTP, untapped, with one codec and one telephone-event
    type: nothing in between would need Python."""
    return (
        a.transport is not None and b.transport is not None and a.sending and b.sending
        and a.srtp is None and b.srtp is None and not a.taps and not b.taps
        and a.codec is b.codec and a.dtmf.payload_type == b.dtmf.payload_type
    )  # fmt: skip


def _ipv4(address: Address) -> bool:
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(address[0]).version == 4
    return False


class KernelBridges:
    """The worker's relayed pairs: session -> (the other session, the pair's routes)."""

    def __init__(self, link: KernelLink, clock: MediaClock) -> None:
        self.link = link
        self.clock = clock
        self.pairs: dict[RtpSession, tuple[RtpSession, tuple[Route, Route]]] = {}
        self._receiving: dict[str, RtpSession] = {}
        """`Route.key` -> the session whose socket that route's packets would have reached."""
        self._counted: dict[RtpSession, int] = {}
        self._retry_at: dict[RtpSession, float] = {}
        self.forwarded = 0
        """Packets the kernel relayed (as of the last count), over all pairs so far."""

    @property
    def legs(self) -> int:
        return len(self.pairs)

    def routes_for(self, a: RtpSession, b: RtpSession) -> tuple[Route, Route] | None:
        """The two routes of a qualifying pair; None if it does not qualify (now)."""
        if not _alike(a, b):
            return None
        peer_a, peer_b = a.peer.latched, b.peer.latched
        if peer_a is None or peer_b is None or not (_ipv4(peer_a) and _ipv4(peer_b)):
            return None
        ledger = a.peer.ledger
        if not (a.peer.confirmed and b.peer.confirmed
                and ledger.is_verified(peer_a[0]) and ledger.is_verified(peer_b[0])):  # fmt: skip
            return None
        # The rest costs system calls (~20 µs a pair): a pair it refuses waits a while.
        if self._retry_at.get(a, 0.0) > time.monotonic():
            return None
        self._retry_at[a] = time.monotonic() + RETRY_S
        local_a, local_b = local_address(a, peer_a), local_address(b, peer_b)
        if local_a is None or local_b is None:
            return None
        remote = peer_a[0] != local_a[0] or peer_b[0] != local_b[0]
        loopback = all(ipaddress.ip_address(p[0]).is_loopback for p in (peer_a, peer_b))
        if remote and not loopback and not ip_forwarding():
            return None
        self._retry_at.pop(a, None)
        return Route(peer_a, local_a, local_b, peer_b), Route(peer_b, local_b, local_a, peer_a)

    def still(self, a: RtpSession, b: RtpSession, routes: tuple[Route, Route]) -> bool:
        """Whether a pair relayed on `routes` (in `a`'s order) may stay so: what can change
        without a command (the bridge, a phone re-latching from a new address), and what a
        command may have changed while its routes were being written."""
        return (
            a.bridge is b and b.bridge is a and _alike(a, b)
            and a.peer.latched == routes[0].peer and b.peer.latched == routes[1].peer
        )  # fmt: skip

    async def sync(self, sessions: Iterable[RtpSession]) -> None:
        """Release the pairs that no longer qualify; relay those that now do. Runs on the
        pacer's loop twice a second, so the loop's part stays well under a millisecond
        for a thousand legs (a relayed pair is checked by `still`, a few comparisons);
        the kernel's part (~1 ms for 25 pairs, more on a busy core) runs in the helper
        process (`kernel_helper.py`), at a lower priority than the pacer."""
        for session, (other, routes) in list(self.pairs.items()):
            if session in self.pairs and not self.still(session, other, routes):
                self.release(session)
        fresh: dict[RtpSession, tuple[RtpSession, tuple[Route, Route]]] = {}
        for session in sessions:
            bridged = session.bridge
            if (bridged is None or session.kernel_relayed or bridged.bridge is not session
                    or bridged in fresh):  # fmt: skip
                continue
            qualifying = self.routes_for(session, bridged)
            if qualifying is not None:
                fresh[session] = (bridged, qualifying)
        if not fresh:
            return
        # One transaction for all (each alone costs ~0.2 ms); if it is refused, pair by
        # pair, so that one bad pair keeps only itself out.
        link = self.link
        if await link.add(tuple(route for _, routes in fresh.values() for route in routes)):
            for session, (bridged, routes) in list(fresh.items()):
                error = await link.add(routes)
                if error is not None:
                    log.warning("kernel relay: ports %s/%s stay in Python: %s",
                                session.port, bridged.port, error)  # fmt: skip
                    del fresh[session]
        for session, (bridged, routes) in fresh.items():
            if self.still(session, bridged, routes):
                self._relayed(session, bridged, routes)
            else:  # a command changed the pair while its routes were written: undo
                link.remove(routes)

    def _relayed(self, a: RtpSession, b: RtpSession, routes: tuple[Route, Route]) -> None:
        # Each session keeps the routes in its own order, as `routes_for(it, other)` gives them.
        for session, other, ordered in ((a, b, routes), (b, a, (routes[1], routes[0]))):
            self.pairs[session] = (other, ordered)
            self._receiving[ordered[0].key] = session
            self._counted[session] = 0
            session.kernel_relayed = True
            session.relay.clear()
            self.clock.remove(session)

    def release(self, session: RtpSession) -> None:
        """Back to Python: the pair of `session` (if relayed) is paced again from now on;
        its routes leave the kernel a moment later (the helper's, after any change asked
        before), so the phones may get both for a millisecond or two."""
        pair = self.pairs.get(session)
        if pair is None:
            return
        other, routes = pair
        self.link.remove(routes)
        for route in routes:
            self._receiving.pop(route.key, None)
        for leg in (session, other):
            self.pairs.pop(leg, None)
            self._counted.pop(leg, None)
            self._retry_at.pop(leg, None)
            leg.kernel_relayed = False
            leg.first_packet = True
            if leg.transport is not None:
                self.clock.add(leg)

    def forget(self, session: RtpSession) -> None:
        """`session` is closing: released, and nothing of it kept."""
        self.release(session)
        self._retry_at.pop(session, None)

    def count(self, counters: dict[str, int]) -> None:
        """What the kernel forwarded since the last count, as received by each session."""
        now = time.monotonic()
        for key, packets in counters.items():
            session = self._receiving.get(key)
            if session is None:
                continue
            new = packets - self._counted.get(session, 0)
            if new > 0:
                self._counted[session] = packets
                self.forwarded += new
                session.packets_received += new
                session.last_received = now

    async def close(self) -> None:
        for session in list(self.pairs):
            self.release(session)
        await self.link.close()  # it applies what was sent, then deletes its table
