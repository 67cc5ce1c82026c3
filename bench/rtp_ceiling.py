"""The physical ceiling: a minimal raw-UDP pacer sending N G.711 streams from one process.

    .venv/bin/python bench/rtp_ceiling.py --streams 1000 --seconds 10
    .venv/bin/python bench/rtp_ceiling.py --flat-out 5      # sendto per second, unpaced

Each stream is its own UDP socket sending a 172-byte RTP packet (12-byte header +
160 bytes of G.711 = 20 ms) every 20 ms to the discard port, on the same grid as
dipflow's pacer (absolute 2 ms ticks, each stream on one of the ten slots of a
frame), with the sequence number and timestamp written into a pre-built packet.
Nothing else runs in the process: no event loop, no parsing, no playback state.
What it costs per stream is the floor for any pure-Python sender on this machine;
`bench/sip.py` runs it on the server's core in the same run as dipflow and reports
dipflow's calls per core as a share of this one's.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import time
from typing import Any

PACKET_BYTES = 172
HEADER = struct.Struct("!BBHII")
TICK_S = 0.002
SLOTS = 10  # dipflow's grid (channels/sip/media.py)
DISCARD = ("127.0.0.1", 9)
"""The default destination; bench/sip.py passes --port of a bound socket nobody reads."""


def _percentile(counts: list[int], total: int, q: float) -> float:
    """Upper edge (ms) of the 0.1 ms bin holding the q-th percentile."""
    rank = q / 100 * total
    seen = 0
    for index, n in enumerate(counts):
        seen += n
        if n and seen >= rank:
            return (index + 1) / 10
    return len(counts) / 10


def paced(streams: int, seconds: float, destination: tuple[str, int] = DISCARD) -> dict[str, Any]:
    sockets = []
    for _ in range(streams):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        sockets.append(sock)
    packets = [bytearray(PACKET_BYTES) for _ in range(streams)]
    for i, packet in enumerate(packets):
        HEADER.pack_into(packet, 0, 0x80, 0, 0, 0, 0x1000 + i)
        packet[12:] = b"\xff" * 160
    counts = [0] * 1001
    sent = 0
    pack_into = HEADER.pack_into
    clock = time.monotonic
    cpu_start, wall_start = time.process_time(), clock()
    deadline = wall_start
    end = wall_start + seconds
    tick = 0
    sequence = 0
    while deadline < end:
        deadline += TICK_S
        tick += 1
        delay = deadline - clock()
        if delay > 0:
            time.sleep(delay)
        slot = tick % SLOTS
        if slot == 0:
            sequence = (sequence + 1) & 0xFFFF
        timestamp = (sequence * 160) & 0xFFFFFFFF
        for i in range(slot, streams, SLOTS):
            packet = packets[i]
            pack_into(packet, 0, 0x80, 0, sequence, timestamp, 0x1000 + i)
            sockets[i].sendto(packet, destination)
            late = int((clock() - deadline) * 10_000)
            counts[late if late < 1000 else 1000] += 1
            sent += 1
    cpu = time.process_time() - cpu_start
    wall = clock() - wall_start
    for sock in sockets:
        sock.close()
    cores = cpu / wall
    return {
        "streams": streams,
        "packets": sent,
        "jitter_p50_ms": _percentile(counts, sent, 50),
        "jitter_p99_ms": _percentile(counts, sent, 99),
        "jitter_max_ms": _percentile(counts, sent, 100),
        "cpu_cores": round(cores, 4),
        "streams_per_core": int(streams / cores) if cores else None,
        "us_per_packet": round(cpu / sent * 1e6, 2) if sent else None,
    }


def flat_out(seconds: float) -> dict[str, Any]:
    """sendto of one 172-byte packet in a tight loop: the syscall ceiling of a core."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    packet = bytes(PACKET_BYTES)
    n = 0
    cpu_start = time.process_time()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(1000):
            sock.sendto(packet, DISCARD)
        n += 1000
    cpu = time.process_time() - cpu_start
    return {"sendto_per_cpu_s": int(n / cpu), "streams_per_core": int(n / cpu / 50)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=9, help="UDP port on 127.0.0.1 to send to")
    parser.add_argument("--flat-out", type=float, default=0.0, help="seconds of unpaced sendto")
    args = parser.parse_args()
    result = (
        flat_out(args.flat_out)
        if args.flat_out
        else paced(args.streams, args.seconds, ("127.0.0.1", args.port))
    )
    result["cpus"] = sorted(os.sched_getaffinity(0))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
