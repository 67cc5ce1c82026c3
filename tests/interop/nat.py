"""A home router's NAT between a peer and dipflow, made of network namespaces.

    peer (lan namespace) --veth-- router namespace (masquerade) --veth-- dipflow (this host)
    192.168.N.2/24            192.168.N.1 | 10.M.K.2/30                  10.M.K.1/30

The router masquerades with `fully-random` ports, as carrier-grade and many home NATs do:
the peer's RTP reaches dipflow from another address *and* port than its SDP names. dipflow
binds to `dipflow_address`; a peer runs under `wrap` (`ip netns exec LAN`). The lan subnet
is routed to the router, whose firewall drops unsolicited packets from its wan side as home
routers do: what dipflow sends to the SDP's private address vanishes silently and never leaves
the machine (a blackhole route would instead fail the send with EINVAL, which no real network
does).
Needs root (network namespaces, nftables)."""

from __future__ import annotations

import itertools
import os
import random
import subprocess
from dataclasses import dataclass, field
from types import TracebackType

_SERIAL = itertools.count()


def _run(*argv: str, stdin: str | None = None) -> str:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result.stdout


def _used_prefixes() -> str:
    return _run("ip", "-4", "route", "show", "table", "all")


@dataclass
class NatNetwork:
    """`with NatNetwork() as nat:` builds the namespaces; leaving removes all of it."""

    tag: str = field(default_factory=lambda: f"{os.getpid() % 10000}x{next(_SERIAL)}")
    lan_ns: str = ""
    router_ns: str = ""
    dipflow_address: str = ""
    router_wan_address: str = ""
    peer_address: str = ""
    lan_subnet: str = ""
    _host_if: str = ""
    _made: list[str] = field(default_factory=list)

    @property
    def wrap(self) -> tuple[str, ...]:
        """Prefix for a command that runs on the lan, behind the NAT."""
        return ("ip", "netns", "exec", self.lan_ns)

    def __enter__(self) -> NatNetwork:
        try:
            self._build()
        except BaseException:
            self._tear_down()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._tear_down()

    def _choose_subnets(self) -> None:
        used = _used_prefixes()
        rng = random.SystemRandom()
        for _ in range(100):
            m, k, n = rng.randrange(100, 250), rng.randrange(0, 64) * 4, rng.randrange(100, 250)
            wan, lan = f"10.{m}.{k}.", f"192.168.{n}."
            if wan not in used and lan not in used:
                self.dipflow_address, self.router_wan_address = wan + "1", wan + "2"
                self.peer_address, self.lan_subnet = lan + "2", lan + "0/24"
                self._router_lan = lan + "1"
                return
        raise RuntimeError("no free private subnets for the NAT test network")

    def _build(self) -> None:
        self.lan_ns = f"dipflow-lan-{self.tag}"
        self.router_ns = f"dipflow-rtr-{self.tag}"
        self._host_if = f"dfw{self.tag}"[:15]
        router_wan, router_lan, peer_if = "wan0", "lan0", "eth0"
        self._choose_subnets()
        for ns in (self.router_ns, self.lan_ns):
            _run("ip", "netns", "add", ns)
            self._made.append(f"netns:{ns}")
        # host <-> router
        _run("ip", "link", "add", self._host_if, "type", "veth", "peer", "name", router_wan,
             "netns", self.router_ns)  # fmt: skip
        self._made.append(f"link:{self._host_if}")
        _run("ip", "addr", "add", f"{self.dipflow_address}/30", "dev", self._host_if)
        _run("ip", "link", "set", self._host_if, "up")
        # router <-> lan
        r, lan = ("ip", "-n", self.router_ns), ("ip", "-n", self.lan_ns)
        _run(*r, "link", "add", router_lan, "type", "veth", "peer", "name", peer_if,
             "netns", self.lan_ns)  # fmt: skip
        _run(*r, "addr", "add", f"{self.router_wan_address}/30", "dev", router_wan)
        _run(*r, "addr", "add", f"{self._router_lan}/24", "dev", router_lan)
        for name in ("lo", router_wan, router_lan):
            _run(*r, "link", "set", name, "up")
        _run(*lan, "addr", "add", f"{self.peer_address}/24", "dev", peer_if)
        for name in ("lo", peer_if):
            _run(*lan, "link", "set", name, "up")
        _run(*lan, "route", "add", "default", "via", self._router_lan)
        _run("ip", "netns", "exec", self.router_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        _run("ip", "netns", "exec", self.router_ns, "nft", "-f", "-", stdin=(
            "table ip nat {\n"
            "  chain postrouting {\n"
            "    type nat hook postrouting priority srcnat; policy accept;\n"
            f'    oifname "{router_wan}" masquerade fully-random\n'
            "  }\n"
            "}\n"
            "table ip filter {\n"
            "  chain forward {\n"
            "    type filter hook forward priority filter; policy accept;\n"
            f'    iifname "{router_wan}" ct state != {{ established, related }} drop\n'
            "  }\n"
            "}\n"
        ))  # fmt: skip
        # The peer's private address is unreachable from here, as from the internet: sent to
        # the router, which lets in only what answers the lan's own traffic.
        _run("ip", "route", "add", self.lan_subnet, "via", self.router_wan_address)

    def _tear_down(self) -> None:
        # The host's veth end (with its routes) is deleted at once; a namespace's own
        # devices go when the kernel gets round to it.
        for item in reversed(self._made):
            kind, _, name = item.partition(":")
            argv = ("ip", "link", "del", name) if kind == "link" else ("ip", "netns", "del", name)
            subprocess.run(argv, capture_output=True, timeout=30, check=False)
        self._made.clear()
