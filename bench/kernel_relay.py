"""What relaying a packet costs: in the kernel (nftables, `kernel_relay.py`) or in Python.

    .venv/bin/python bench/kernel_relay.py --packets 200000 --routes 1000 --cpu 0

On loopback the kernel's work for a packet (its rules, the forwarding, the delivery) is
done in the sending process's system call, so it is measured there: one process pinned
to `--cpu` sends `--packets` 172-byte RTP-sized datagrams, as fast as it can, round-robin
over `--routes` streams, three ways, in the same run:

* **direct**: straight to the far phone's socket (the baseline: a send and a delivery);
* **kernel**: to our leg's socket, which the kernel relay's table forwards to the far
  phone's socket (the same table the media worker keeps, with `--routes` routes in it);
* **python**: to our leg's socket, where a Python relay on the same core (uvloop's
  datagram endpoint, as the media worker reads) sends each packet on to the far phone;
  its CPU is added to the sender's.

CPU per packet is user + system time of the processes involved (the far phone's sockets
are never read: a phone that drops what it gets). Prints a table; `kernel - direct` is
what the relay's rules and forwarding cost a packet, `python - direct` what relaying a
packet through Python costs (the media worker also paces and parses; this is the floor).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import time

import psutil

from dipflow.channels.sip.kernel_relay import KernelRelay, Route

LOCAL = "127.0.0.1"
PACKET = bytes(172)


def _bound(count: int, buffer: int = 4096) -> list[socket.socket]:
    out = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
        sock.bind((LOCAL, 0))
        out.append(sock)
    return out


def _send(sock: socket.socket, targets: list[tuple[str, int]], packets: int) -> float:
    """CPU seconds (user + system) this process spends sending `packets`."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    count = len(targets)
    send = sock.sendto
    for i in range(packets):
        send(PACKET, targets[i % count])
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _python_relay(ports: list[int], targets: list[tuple[str, int]]) -> None:
    """The relay process: each leg's socket sends what it reads to its far phone."""
    import uvloop

    relayed = [0]

    class Leg(asyncio.DatagramProtocol):
        def __init__(self, sock: socket.socket, target: tuple[str, int]) -> None:
            self.sock, self.target = sock, target

        def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
            try:
                self.sock.sendto(data, self.target)
                relayed[0] += 1
            except BlockingIOError:
                pass

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for port, target in zip(ports, targets, strict=True):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((LOCAL, port))
            sock.setblocking(False)
            await loop.create_datagram_endpoint(lambda s=sock, t=target: Leg(s, t), sock=sock)
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        print(relayed[0], flush=True)

    uvloop.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--routes", type=int, default=1000)
    parser.add_argument("--cpu", type=int, default=0)
    parser.add_argument("--relay", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relay:
        ports, targets = args.relay.split(":")
        _python_relay([int(p) for p in ports.split(",")],
                      [(LOCAL, int(p)) for p in targets.split(",")])  # fmt: skip
        return
    os.sched_setaffinity(0, {args.cpu})
    relay = KernelRelay.open()  # before the sockets: libnftables' select() (nftables.py)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind((LOCAL, 0))
    source = (LOCAL, int(sender.getsockname()[1]))
    phones = _bound(args.routes)
    phone_addresses = [(LOCAL, int(s.getsockname()[1])) for s in phones]
    legs = _bound(args.routes)  # our legs' sockets (kernel: bound, never read)
    leg_addresses = [(LOCAL, int(s.getsockname()[1])) for s in legs]
    out_legs = _bound(args.routes)
    out_addresses = [(LOCAL, int(s.getsockname()[1])) for s in out_legs]
    rows: list[tuple[str, float]] = []

    rows.append(("direct", _send(sender, phone_addresses, args.packets)))

    try:
        relay.add(
            tuple(
                Route(source, leg, out, phone)
                for leg, out, phone in zip(
                    leg_addresses, out_addresses, phone_addresses, strict=True
                )
            )
        )
        rows.append(("kernel", _send(sender, leg_addresses, args.packets)))
        forwarded = sum(relay.counters().values())
    finally:
        relay.close()

    for sock in legs:
        sock.close()  # the Python relay binds these ports itself
    ports = ",".join(str(a[1]) for a in leg_addresses)
    targets = ",".join(str(a[1]) for a in phone_addresses)
    child = subprocess.Popen(
        ["taskset", "-c", str(args.cpu), sys.executable, __file__, "--relay", f"{ports}:{targets}"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdin is not None
    child.stdout.readline()
    ps = psutil.Process(child.pid)
    before = ps.cpu_times()
    spent = _send(sender, leg_addresses, args.packets)
    time.sleep(1.0)  # let the relay drain its sockets
    after = ps.cpu_times()
    rows.append(("python", spent + (after.user - before.user) + (after.system - before.system)))
    child.stdin.write("\n")
    child.stdin.flush()
    python_relayed = int(child.stdout.readline())
    child.wait(10)

    direct = rows[0][1]
    print(f"{args.packets:,} packets over {args.routes:,} routes, CPU {args.cpu}; "
          f"forwarded: kernel {forwarded:,}, python {python_relayed:,}")  # fmt: skip
    print("| path | CPU per packet (µs) | over direct (µs) | ratio to direct |")
    print("|---|---:|---:|---:|")
    for name, seconds in rows:
        per = seconds / args.packets * 1e6
        print(f"| {name} | {per:.2f} | {per - direct / args.packets * 1e6:+.2f} "
              f"| {seconds / direct:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
