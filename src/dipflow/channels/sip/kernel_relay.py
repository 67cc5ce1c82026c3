"""The kernel relay: a bridged pair's RTP forwarded by the kernel, not by Python. Layer 4.

A bridged call relays two streams: what the caller's phone sends goes to the agent's,
and back. In Python each packet costs a wake-up, a read, a parse and a paced send (~9 µs
of the media worker's core, measured in docs/benchmarks.md); the kernel can forward it
while it is still in the network stack, as rtpengine's kernel module does. This module
keeps one nftables table per media worker holding its relayed
pairs. For each direction of a pair (a `Route`):

* at **prerouting** (before connection tracking, which these packets skip: `notrack`), a
  packet whose source, destination address and port are exactly the route's (the sender
  is the leg's latched peer, `latch.py`; a stranger's packets still reach Python and are
  dropped there) gets the route's mark, and its destination becomes the other leg's peer;
* at **input** (the peer is on this host) or **postrouting** (it is not), a marked
  packet's source becomes the other leg's socket, so the far phone sees the address our
  SDP gave it, exactly as if the worker had sent the packet.

Lookups are hashed sets and maps keyed by address and port (and by the mark), so a packet
costs the same with 1 or 5,000 pairs; every element has a counter, which is how the RTP
watchdog still knows a relayed peer is alive. Only what needs no rewriting of the RTP
itself qualifies (`kernel_bridges.py` decides): plain RTP on both legs, the same codec and
telephone-event type, IPv4. Headers pass unchanged, so the far end sees the near phone's
SSRC, sequence and timestamps (an SSRC change at the bridge, as RFC 3550 §8.2 allows).

A worker that dies leaves its table behind; the next one to start deletes the tables of
processes that no longer exist (tables are named `dipflow_media_<pid>_<n>`: a process
may run several workers in threads). Needs CAP_NET_ADMIN (root, or the capability
granted to the service); to forward to peers on other hosts, `net.ipv4.ip_forward=1`
(docs/sip.md).
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import logging
import os
import re
from dataclasses import dataclass

from dipflow.channels.sip.events import Address
from dipflow.channels.sip.nftables import Nftables, NftablesError

log = logging.getLogger(__name__)

TABLE_PREFIX = "dipflow_media_"
MARK_TAG = 0x0D1F0000
"""The high half of our packet marks (the low half: a route's number); other software's
marks (policy routing, VPNs) use other values, and our chains clear ours once used."""
MARK_MASK = 0xFFFF0000
MAX_ROUTES = 0xFFFF

_RULES = """
table ip {table} {{
  set relayed {{ type ipv4_addr . inet_service . ipv4_addr . inet_service; counter; }}
  map route_mark {{ type ipv4_addr . inet_service : mark; }}
  map to_addr {{ type mark : ipv4_addr; }}
  map to_port {{ type mark : inet_service; }}
  map from_addr {{ type mark : ipv4_addr; }}
  map from_port {{ type mark : inet_service; }}
  chain prerouting {{
    type filter hook prerouting priority raw; policy accept;
    ip saddr . udp sport . ip daddr . udp dport @relayed notrack \\
      meta mark set ip daddr . udp dport map @route_mark \\
      ip daddr set meta mark map @to_addr udp dport set meta mark map @to_port
  }}
  chain input {{
    type filter hook input priority raw; policy accept;
    meta mark & {mask:#x} == {tag:#x} \\
      ip saddr set meta mark map @from_addr udp sport set meta mark map @from_port meta mark set 0
  }}
  chain postrouting {{
    type filter hook postrouting priority raw; policy accept;
    meta mark & {mask:#x} == {tag:#x} \\
      ip saddr set meta mark map @from_addr udp sport set meta mark map @from_port meta mark set 0
  }}
}}
"""
_TABLE_LINE = re.compile(rf"^table ip ({TABLE_PREFIX}(\d+)_\d+)$", re.MULTILINE)
_COUNTED = re.compile(r"([\d.]+ \. \d+ \. [\d.]+ \. \d+) counter packets (\d+)")
_opened = itertools.count(1)
"""Tables this process opened (a worker in a thread: several servers in one process)."""


@dataclass(frozen=True, slots=True)
class Route:
    """One direction of a relayed pair: what `peer` sends to `local` leaves from
    `out_local` (the other leg's socket) to `out_peer` (the other leg's peer)."""

    peer: Address
    local: Address
    out_local: Address
    out_peer: Address

    @property
    def key(self) -> str:
        """The route's element of the `relayed` set, as nft writes it (and lists it)."""
        return f"{_key(self.peer)} . {_key(self.local)}"


def _ip(address: Address) -> str:
    """An IPv4 address as nft reads it; anything else is refused (it never reaches a
    command: these strings are built into the rules' text)."""
    try:
        return str(ipaddress.IPv4Address(address[0]))
    except ValueError as exc:
        raise ValueError(f"not an IPv4 address: {address[0]!r}") from exc


def _port(address: Address) -> int:
    port = int(address[1])
    if not 0 < port < 65536:
        raise ValueError(f"not a port: {port}")
    return port


def _key(address: Address) -> str:
    return f"{_ip(address)} . {_port(address)}"


class KernelRelay:
    """This process's table of relayed routes."""

    def __init__(self, nft: Nftables, table: str) -> None:
        self.nft = nft
        self.table = table
        self._marks: dict[Route, int] = {}
        self._free = list(range(MAX_ROUTES, 0, -1))

    @classmethod
    def open(cls) -> KernelRelay:
        """Create this process's table (after deleting those of dead processes);
        `NftablesError` when the kernel refuses (no CAP_NET_ADMIN, no nf_tables)."""
        nft = Nftables()
        table = f"{TABLE_PREFIX}{os.getpid()}_{next(_opened)}"
        remove_stale_tables(nft)
        nft.run(f"add table ip {table}\ndelete table ip {table}\n"
                + _RULES.format(table=table, mask=MARK_MASK, tag=MARK_TAG))  # fmt: skip
        return cls(nft, table)

    @property
    def routes(self) -> int:
        return len(self._marks)

    def add(self, routes: tuple[Route, ...]) -> None:
        """Relay `routes` (one transaction: all of them, or none and `NftablesError`)."""
        fresh = [route for route in routes if route not in self._marks]
        if not fresh:
            return
        if len(fresh) > len(self._free):
            raise NftablesError(f"nftables: more than {MAX_ROUTES} relayed routes")
        marks = {route: MARK_TAG | self._free.pop() for route in fresh}
        try:
            self.nft.run(self._elements("add", marks))
        except (NftablesError, ValueError):
            self._free.extend(mark & ~MARK_MASK for mark in marks.values())
            raise
        self._marks.update(marks)

    def remove(self, routes: tuple[Route, ...]) -> None:
        """Stop relaying `routes`: their packets reach the worker's sockets again."""
        marks = {route: self._marks[route] for route in routes if route in self._marks}
        if not marks:
            return
        for route in marks:
            del self._marks[route]
        self._free.extend(mark & ~MARK_MASK for mark in marks.values())
        try:
            self.nft.run(self._elements("delete", marks))
        except NftablesError as exc:  # the table is gone: nothing is relayed anyway
            log.warning("kernel relay: cannot remove %d routes: %s", len(marks), exc)

    def _elements(self, verb: str, marks: dict[Route, int]) -> str:
        relayed, route_mark, to_addr, to_port, from_addr, from_port = [], [], [], [], [], []
        for route, mark in marks.items():
            relayed.append(route.key)
            route_mark.append(f"{_key(route.local)} : {mark:#x}")
            to_addr.append(f"{mark:#x} : {_ip(route.out_peer)}")
            to_port.append(f"{mark:#x} : {_port(route.out_peer)}")
            from_addr.append(f"{mark:#x} : {_ip(route.out_local)}")
            from_port.append(f"{mark:#x} : {_port(route.out_local)}")
        # Adding: the maps first, the set (which lets packets in) last; deleting: the
        # set first. A packet never finds its route half-written.
        parts = [("route_mark", route_mark), ("to_addr", to_addr), ("to_port", to_port),
                 ("from_addr", from_addr), ("from_port", from_port)]  # fmt: skip
        parts = [*parts, ("relayed", relayed)] if verb == "add" else [("relayed", relayed), *parts]
        return "".join(
            f"{verb} element ip {self.table} {name} {{ {', '.join(items)} }}\n"
            for name, items in parts
        )

    def counters(self) -> dict[str, int]:
        """Packets relayed so far on each route, by `Route.key` (safe in a thread)."""
        listing = self.nft.listing(f"list set ip {self.table} relayed")
        return {match[1]: int(match[2]) for match in _COUNTED.finditer(listing)}

    def close(self) -> None:
        """Delete the table (every route with it)."""
        self._marks.clear()
        with contextlib.suppress(NftablesError):
            self.nft.run(f"delete table ip {self.table}")
        self.nft.close()


def remove_stale_tables(nft: Nftables) -> list[str]:
    """Delete the tables of media workers that no longer run; their names."""
    removed = []
    for match in _TABLE_LINE.finditer(nft.run("list tables ip")):
        table, pid = match.group(1), int(match.group(2))
        if pid == os.getpid() or _alive(pid):
            continue
        with contextlib.suppress(NftablesError):
            nft.run(f"delete table ip {table}")
            removed.append(table)
            log.info("kernel relay: removed %s, left by a worker that is gone", table)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
