"""The kernel relay against the real kernel: nftables on loopback, real sockets.

What a bridged call relies on: once both phones have proved themselves, each phone's
packets reach the other unchanged (its SSRC, its sequence), from the address our SDP gave
that phone, without the media worker touching them; a stranger's packets are never
forwarded; the RTP watchdog still sees the relayed phones alive; unbridging (or a pair
that stops qualifying) gives the legs back to the worker's pacer; a worker's table goes
with it. These tests need CAP_NET_ADMIN: CI runs as root. Without it they fail (the
message says why): a kernel relay that cannot be tested here is not a tested feature.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from dipflow.channels.sip.kernel_relay import (
    TABLE_PREFIX,
    KernelRelay,
    Route,
    remove_stale_tables,
)
from dipflow.channels.sip.media_link import MediaLeg, MediaLink
from dipflow.channels.sip.nftables import Nftables, NftablesError
from dipflow.channels.sip.rtp import RtpStream, parse_rtp
from dipflow.channels.sip.sdp import Codec
from dipflow.channels.sip.settings import SipSettings
from tests.runtime.sim_calls import wait_until
from tests.sip.test_sip_media_worker import _Phone as _WorkerTestPhone
from tests.sip.test_sip_media_worker import _port_range

LOCAL = "127.0.0.1"
pytestmark = pytest.mark.slow  # the real kernel's nftables: root, as in CI (`./dev test`)


def _tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def kernel_allows_it() -> None:
    try:
        KernelRelay.open().close()
    except NftablesError as exc:
        pytest.fail(f"the kernel relay needs nftables and CAP_NET_ADMIN (run as root): {exc}")


class _Socket:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCAL, 0))
        self.sock.settimeout(2)
        self.address = (LOCAL, int(self.sock.getsockname()[1]))

    def receive(self) -> tuple[bytes, tuple[str, int]]:
        data, source = self.sock.recvfrom(2048)
        return data, (str(source[0]), int(source[1]))

    def nothing(self) -> bool:
        self.sock.settimeout(0.3)
        try:
            self.sock.recvfrom(2048)
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(2)
        return False


@pytest.fixture
def sockets() -> Iterator[Callable[[], _Socket]]:
    made: list[_Socket] = []

    def make() -> _Socket:
        made.append(_Socket())
        return made[-1]

    yield make
    for each in made:
        each.sock.close()


def test_a_pair_is_forwarded_both_ways_from_the_legs_addresses(
    sockets: Callable[[], _Socket],
) -> None:
    caller, caller_leg, agent_leg, agent = sockets(), sockets(), sockets(), sockets()
    relay = KernelRelay.open()
    try:
        routes = (
            Route(caller.address, caller_leg.address, agent_leg.address, agent.address),
            Route(agent.address, agent_leg.address, caller_leg.address, caller.address),
        )
        relay.add(routes)
        caller.sock.sendto(b"from the caller", caller_leg.address)
        assert agent.receive() == (b"from the caller", agent_leg.address)
        agent.sock.sendto(b"from the agent", agent_leg.address)
        assert caller.receive() == (b"from the agent", caller_leg.address)
        assert caller_leg.nothing() and agent_leg.nothing()  # the legs' sockets saw nothing

        stranger = sockets()
        stranger.sock.sendto(b"not the caller", caller_leg.address)
        assert caller_leg.receive() == (b"not the caller", stranger.address)
        assert agent.nothing()

        assert relay.counters() == {routes[0].key: 1, routes[1].key: 1}
        assert routes[0].key == f"{LOCAL} . {caller.address[1]} . {LOCAL} . {caller_leg.address[1]}"

        relay.remove(routes)
        caller.sock.sendto(b"after", caller_leg.address)
        assert caller_leg.receive() == (b"after", caller.address)
        assert relay.counters() == {}
    finally:
        relay.close()
    assert relay.table not in _tables()


def test_a_failed_batch_adds_nothing_and_hostile_addresses_never_reach_nft(
    sockets: Callable[[], _Socket],
) -> None:
    caller, leg, other_leg, agent = sockets(), sockets(), sockets(), sockets()
    relay = KernelRelay.open()
    try:
        good = Route(caller.address, leg.address, other_leg.address, agent.address)
        for hostile in [("1.2.3.4 } ; flush ruleset ; {", 5), ("::1", 5), (LOCAL, 0),
                        (LOCAL, 70000)]:  # fmt: skip
            with pytest.raises(ValueError, match=r"not an IPv4 address|not a port"):
                relay.add((good, Route(hostile, leg.address, other_leg.address, agent.address)))
        assert relay.routes == 0 and relay.counters() == {}
        caller.sock.sendto(b"x", leg.address)
        assert leg.receive() == (b"x", caller.address)  # not forwarded: nothing was added
    finally:
        relay.close()


def test_tables_left_by_dead_workers_are_removed_and_live_ones_kept() -> None:
    nft = Nftables()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"{TABLE_PREFIX}{dead.pid}_1"
    live = f"{TABLE_PREFIX}{os.getppid()}_1"
    nft.run(f"add table ip {stale}\nadd table ip {live}")
    try:
        assert remove_stale_tables(nft) == [stale]
        tables = _tables()
        assert stale not in tables and live in tables
    finally:
        nft.run(f"delete table ip {live}")
        nft.close()


# -- through the media worker --------------------------------------------------------------


class _Phone(_WorkerTestPhone):
    """A phone's RTP port (the media worker tests' phone) that also sends 20 ms packets of
    its own stream and keeps what it gets."""

    def __init__(self, host: str = LOCAL, server: str = LOCAL) -> None:
        super().__init__(host, server)
        self.stream = RtpStream(int(Codec.PCMU))
        self.heard: list[tuple[int, int, tuple[str, int]]] = []
        """(ssrc, sequence, source) of each packet received."""

    def send(self, leg: MediaLeg) -> None:
        self.send_to(leg, self.stream.packet(b"\x7f" * 160))

    def drain(self) -> None:
        while True:
            try:
                data, source = self.sock.recvfrom(2048)
            except BlockingIOError:
                return
            packet = parse_rtp(data)
            if packet is not None:
                self.heard.append((packet.ssrc, packet.sequence, (source[0], source[1])))


async def _talk(phones: list[tuple[_Phone, MediaLeg]], seconds: float) -> None:
    """Every phone sends to its leg at 50 packets a second, and reads what it gets."""
    for _ in range(round(seconds / 0.02)):
        for phone, leg in phones:
            phone.send(leg)
            phone.drain()
        await asyncio.sleep(0.02)


@pytest.fixture(params=["thread", "process"])
async def link(request: pytest.FixtureRequest) -> AsyncIterator[MediaLink]:
    low, high = _port_range()
    media = MediaLink(SipSettings(rtp_port_min=low, rtp_port_max=high,
                                  media_mode=request.param))  # fmt: skip
    await media.start()
    try:
        yield media
    finally:
        await media.stop()


async def _bridged(link: MediaLink, caller: _Phone, agent: _Phone,
                   codecs: tuple[Codec, Codec] = (Codec.PCMU, Codec.PCMU)
                   ) -> tuple[MediaLeg, MediaLeg]:  # fmt: skip
    caller_leg, agent_leg = await link.open(), await link.open()
    assert caller_leg is not None and agent_leg is not None
    for leg, phone, codec in ((caller_leg, caller, codecs[0]), (agent_leg, agent, codecs[1])):
        leg.configure(phone.negotiated(codec))
        link.verify(phone.host)
        leg.peer.confirm()
        leg.sending = True
    caller_leg.bridge, agent_leg.bridge = agent_leg, caller_leg
    return caller_leg, agent_leg


async def test_a_bridged_pair_moves_to_the_kernel_and_back(link: MediaLink) -> None:
    caller, agent = _Phone(), _Phone()
    caller_leg, agent_leg = await _bridged(link, caller, agent)
    await _talk([(caller, caller_leg), (agent, agent_leg)], 1.5)  # latch, then the handover
    assert link.stats["kernel_relayed_legs"] == 2
    caller.heard.clear()
    agent.heard.clear()
    await _talk([(caller, caller_leg), (agent, agent_leg)], 2.5)

    # The agent's phone gets the caller's own packets (its SSRC: no Python in between)
    # from the agent leg's port, as our SDP told it; and nothing else.
    assert {ssrc for ssrc, _, _ in agent.heard} == {caller.stream.ssrc}
    assert {source for _, _, source in agent.heard} == {(LOCAL, agent_leg.port)}
    assert {ssrc for ssrc, _, _ in caller.heard} == {agent.stream.ssrc}
    assert {source for _, _, source in caller.heard} == {(LOCAL, caller_leg.port)}
    assert len(agent.heard) >= 100  # 2.5 s at 50 a second, give or take the loop
    # The watchdog's figures: what the kernel forwarded counts as received.
    received = caller_leg.packets_received
    await _talk([(caller, caller_leg), (agent, agent_leg)], 2.5)
    assert caller_leg.packets_received >= received + 75
    assert link.stats["kernel_relayed_packets"] >= 2 * 150

    caller_leg.bridge = agent_leg.bridge = None  # the agent hangs up
    caller.heard.clear()
    await _talk([(caller, caller_leg), (agent, agent_leg)], 1.0)
    assert link.stats["kernel_relayed_legs"] == 0
    later = [ssrc for ssrc, _, _ in caller.heard[-10:]]
    assert later and agent.stream.ssrc not in later  # our own stream (silence) again
    for phone in (caller, agent):
        phone.sock.close()


async def test_pairs_that_need_python_stay_in_python(link: MediaLink) -> None:
    phones = [_Phone() for _ in range(4)]
    transcoded = await _bridged(link, phones[0], phones[1], (Codec.PCMU, Codec.PCMA))
    held = await _bridged(link, phones[2], phones[3])
    held[0].sending = False  # on hold: must not be sent the other's audio
    talking = list(zip(phones, [*transcoded, *held], strict=True))
    await _talk(talking, 1.5)
    assert link.stats["kernel_relay"] == 1
    assert link.stats["kernel_relayed_legs"] == 0
    held[0].sending = True  # taken off hold: this pair qualifies now
    await _talk(talking, 1.0)
    assert link.stats["kernel_relayed_legs"] == 2
    for phone in phones:
        phone.sock.close()


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc: psutil is a benchmark's tool)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # "pid (comm) state ppid ...": comm may hold spaces, so read after its ")".
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
    return children


def _our_tables() -> set[str]:
    return {line.split()[-1] for line in _tables().splitlines() if TABLE_PREFIX in line}


async def test_off_means_python_and_a_worker_leaves_no_table_stopped_or_killed() -> None:
    low, high = _port_range()
    off = MediaLink(SipSettings(rtp_port_min=low, rtp_port_max=high, media_mode="process",
                                kernel_relay="off"))  # fmt: skip
    before = _our_tables()
    await off.start()
    await asyncio.sleep(0.6)
    assert off.stats["kernel_relay"] == 0 and _our_tables() == before
    await off.stop()

    for ending in ("stop", "kill"):
        on = MediaLink(SipSettings(rtp_port_min=low, rtp_port_max=high, media_mode="process"))
        await on.start()
        await asyncio.sleep(0.6)
        assert on.stats["kernel_relay"] == 1
        # The table is the helper's, a child of the worker (kernel_helper.py).
        (table,) = _our_tables() - before
        assert on.worker_pid is not None
        helpers = _children(on.worker_pid)
        assert [f"{TABLE_PREFIX}{helper}_1" for helper in helpers] == [table]
        if ending == "kill":  # the worker dies: its helper sees the socket end
            os.kill(on.worker_pid, signal.SIGKILL)
            proc = [f"/proc/{helper}" for helper in helpers]
            await wait_until(lambda proc=proc: not any(map(os.path.exists, proc)), 5)
        await on.stop()
        assert table not in _our_tables()
