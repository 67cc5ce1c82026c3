"""The cost of receiving RTP: the event loop woken per datagram, or the clock's tick.

    .venv/bin/python bench/rtp_receive.py --legs 1000 --seconds 10

N RTP sessions (`channels/sip/media.py`) in one process pinned to core 0, none sending;
a sender process pinned to core 1 sends each of them a 172-byte G.711 packet every
20 ms (N x 50 packets a second). Two ways of reading, in the same run, one after the
other, twice each (alternating):

* **endpoint**: an asyncio datagram endpoint per socket (uvloop's reads them in C and
  calls `datagram_received`): what the channel does;
* **loop**: the event loop watches every socket (`loop.add_reader`) and calls the
  session's own `drain` (Python `recvfrom` until empty) when it is readable;
* **tick**: the `MediaClock` reads every readable socket once per 2 ms tick (tried for
  issue 13: it batches wake-ups, but costs as much per packet: docs/benchmarks.md).

Each packet goes through the whole receive path (`datagram_received`: parsing,
latching, RTCP statistics, DTMF). Printed: packets received, the receiving process's
CPU per packet and in cores, and the ratio tick / loop. The event loop is uvloop when
installed (as in the media worker).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable

from dipflow.channels.sip.media import (
    MediaClock,
    PortAllocator,
    RtpSession,
    SessionListener,
    open_session,
)
from dipflow.channels.sip.protection import AmplificationGuard
from dipflow.channels.sip.sdp import Codec, Direction, Negotiated

SENDER = """
import socket, struct, sys, time
ports = [int(p) for p in sys.stdin.readline().split()]
seconds = float(sys.argv[1])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
header = struct.Struct("!BBHII")
payload = b"\\xff" * 160
deadline = time.monotonic()
end = deadline + seconds
sequence = 0
while deadline < end:
    deadline += 0.02
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    sequence += 1
    for i, port in enumerate(ports):
        sock.sendto(header.pack(0x80, 0, sequence & 0xFFFF, sequence * 160, 1000 + i) + payload,
                    ("127.0.0.1", port))
"""


async def _sessions(legs: int, clock: MediaClock | None) -> list[RtpSession]:
    guard = AmplificationGuard(factor=3.0, max_keys=legs * 2)
    ports = PortAllocator(30000, 30000 + 4 * legs + 8)
    sessions = []
    for _ in range(legs):
        session = await open_session(
            "127.0.0.1", ports, SessionListener(), ledger=guard, latch_window_s=2.0,
            reader=clock,
        )  # fmt: skip
        assert session is not None
        session.configure(Negotiated(
            codec=Codec.PCMU, remote_address="127.0.0.1", remote_port=9,
            dtmf_payload_type=101, direction=Direction.SENDRECV,
        ))  # fmt: skip
        sessions.append(session)
    return sessions


def _protocol(session: RtpSession) -> Callable[[], asyncio.DatagramProtocol]:
    return lambda: session


async def _attempt(mode: str, legs: int, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    clock = MediaClock() if mode == "tick" else None
    transports: list[asyncio.BaseTransport] = []
    sessions = await _sessions(legs, clock)
    if clock is not None:
        clock.start()
    elif mode == "endpoint":
        for session in sessions:
            made = await loop.create_datagram_endpoint(_protocol(session), sock=session.sock)
            transports.append(made[0])
    else:
        for session in sessions:
            assert session.sock is not None
            loop.add_reader(session.sock.fileno(), session.drain)
    sender = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
        ["taskset", "-c", "1", sys.executable, "-c", SENDER, str(seconds + 2)],
        stdin=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert sender.stdin is not None
    sender.stdin.write(" ".join(str(s.port) for s in sessions) + "\n")
    sender.stdin.close()
    await asyncio.sleep(1.0)  # past the start-up and latching
    before = sum(s.packets_received for s in sessions)
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    received = sum(s.packets_received for s in sessions) - before
    sender.wait()
    if clock is not None:
        await clock.stop()
    for transport in transports:
        transport.close()
    await asyncio.sleep(0.2)  # the transports close their sockets on the next turns
    for session in sessions:
        if mode == "loop" and session.sock is not None:
            loop.remove_reader(session.sock.fileno())
        session.close()
    return {"received": received, "cores": cpu / wall, "us_per_packet": cpu / received * 1e6}


async def _main(legs: int, seconds: float) -> None:
    results: dict[str, list[dict[str, float]]] = {"endpoint": [], "loop": [], "tick": []}
    for _ in range(2):
        for mode in results:
            results[mode].append(await _attempt(mode, legs, seconds))
    print(f"{legs} legs x 50 packets/s, {seconds:.0f} s per attempt, receiver on core 0")
    print("| reading | attempt | packets | CPU (cores) | µs per packet |")
    print("|---|---:|---:|---:|---:|")
    for mode, rows in results.items():
        for i, r in enumerate(rows, 1):
            cores, us = r["cores"], r["us_per_packet"]
            print(f"| {mode} | {i} | {r['received']:,} | {cores:.3f} | {us:.2f} |")
    best = {mode: min(r["us_per_packet"] for r in rows) for mode, rows in results.items()}
    print(f"tick / endpoint (best of each): {best['tick'] / best['endpoint']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--legs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    try:
        import uvloop
    except ImportError:
        asyncio.run(_main(args.legs, args.seconds))
    else:
        uvloop.run(_main(args.legs, args.seconds))


if __name__ == "__main__":
    main()
