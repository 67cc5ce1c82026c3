"""The kernel relay to phones on another host: two network namespaces and a veth cable.

The loopback tests never take the path real phones take: a packet that arrives from the
network, is given the other phone's address at prerouting, is *forwarded* (routed back out
of the interface it came in on) and gets the other leg's source at postrouting. Here the
media worker runs in a "server" namespace and the phones in a "phones" namespace, so the
packets cross a (virtual) cable both ways. IP forwarding is the server namespace's own
setting: off, the pair must stay in Python (and still carry audio); on, the kernel relays
it. Needs root (namespaces, nftables), as CI has; fails otherwise.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from dipflow.channels.sip.media_link import MediaLink
from dipflow.channels.sip.settings import SipSettings
from tests.sip.test_sip_kernel_relay import _bridged, _Phone, _talk
from tests.sip.test_sip_media_worker import _port_range

pytestmark = pytest.mark.slow  # root, as in CI (`./dev test`)

SERVER, PHONES = "10.77.0.1", "10.77.0.2"
"""The two ends of the cable (the namespaces are private: no clash with the host's)."""
_CLONE_NEWNET = 0x40000000


def _run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(argv)}: {result.stderr.strip()} (network namespaces need root)")


@dataclass
class _TwoHosts:
    server: str
    phones: str

    def forwarding(self, on: bool) -> None:
        _run("ip", "netns", "exec", self.server, "sysctl", "-qw",
             f"net.ipv4.ip_forward={int(on)}")  # fmt: skip


@pytest.fixture
def hosts() -> Iterator[_TwoHosts]:
    tag = f"{os.getpid() % 100000}"
    two = _TwoHosts(server=f"dipflow-srv-{tag}", phones=f"dipflow-ph-{tag}")
    try:
        for ns in (two.server, two.phones):
            _run("ip", "netns", "add", ns)
        _run("ip", "-n", two.server, "link", "add", "eth0", "type", "veth", "peer", "name",
             "eth0", "netns", two.phones)  # fmt: skip
        for ns, address in ((two.server, SERVER), (two.phones, PHONES)):
            _run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            for device in ("lo", "eth0"):
                _run("ip", "-n", ns, "link", "set", device, "up")
        # A phone on the same subnet would be told to go direct (an ICMP redirect): the
        # setting docs/sip.md asks of an operator.
        _run("ip", "netns", "exec", two.server, "sysctl", "-qw",
             "net.ipv4.conf.all.send_redirects=0")  # fmt: skip
        yield two
    finally:
        for ns in (two.server, two.phones):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@contextmanager
def _inside(namespace: str) -> Iterator[None]:
    """Run the block (this thread: sockets it opens, processes it starts) in `namespace`."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/thread-self/ns/net") as here, open(f"/run/netns/{namespace}") as there:
        if libc.setns(there.fileno(), _CLONE_NEWNET) != 0:
            pytest.fail(f"setns into {namespace}: {os.strerror(ctypes.get_errno())}")
        try:
            yield
        finally:
            if libc.setns(here.fileno(), _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to this test's namespace")


async def test_a_pair_with_phones_on_another_host_is_forwarded_by_the_kernel(
    hosts: _TwoHosts,
) -> None:
    low, high = _port_range()
    link = MediaLink(SipSettings(host=SERVER, rtp_port_min=low, rtp_port_max=high,
                                 media_mode="process"))  # fmt: skip
    with _inside(hosts.server):
        await link.start()  # the worker and its kernel helper start in the server's namespace
    try:
        with _inside(hosts.phones):
            caller, agent = _Phone(PHONES, SERVER), _Phone(PHONES, SERVER)
        caller_leg, agent_leg = await _bridged(link, caller, agent)
        # Forwarding off: the kernel could not send to the other host, so Python relays,
        # and the phones hear each other through the worker (its own SSRCs).
        await _talk([(caller, caller_leg), (agent, agent_leg)], 1.5)
        assert link.stats["kernel_relay"] == 1  # the relay itself is up
        assert link.stats["kernel_relayed_legs"] == 0
        agent.heard.clear()
        await _talk([(caller, caller_leg), (agent, agent_leg)], 1.0)
        assert len(agent.heard) >= 30
        assert caller.stream.ssrc not in {ssrc for ssrc, _, _ in agent.heard}

        # Forwarding on: within the worker's retry interval the pair goes to the kernel.
        hosts.forwarding(True)
        await _talk([(caller, caller_leg), (agent, agent_leg)], 3.0)
        assert link.stats["kernel_relayed_legs"] == 2
        caller.heard.clear()
        agent.heard.clear()
        await _talk([(caller, caller_leg), (agent, agent_leg)], 2.0)
        # Each phone gets the other's own packets, across the cable, from the address
        # our SDP gave it (the leg's socket on the server host), and nothing else.
        assert {ssrc for ssrc, _, _ in agent.heard} == {caller.stream.ssrc}
        assert {source for _, _, source in agent.heard} == {(SERVER, agent_leg.port)}
        assert {ssrc for ssrc, _, _ in caller.heard} == {agent.stream.ssrc}
        assert {source for _, _, source in caller.heard} == {(SERVER, caller_leg.port)}
        assert len(agent.heard) >= 75 and len(caller.heard) >= 75  # 2 s at 50 a second
        sequences = [sequence for _, sequence, _ in agent.heard]
        assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(sequences))
        # The watchdog's figures: the kernel's counters, read every 2 s (so they lag).
        await _talk([(caller, caller_leg), (agent, agent_leg)], 2.5)
        assert link.stats["kernel_relayed_packets"] >= 2 * 150
        assert caller_leg.packets_received >= 150
        for phone in (caller, agent):
            phone.sock.close()
    finally:
        await link.stop()
