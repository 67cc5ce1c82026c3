"""An RTP echo for the benchmark's agent phones: every datagram goes back to its sender.

    .venv/bin/python bench/rtp_echo.py --port 40002

One socket serves every agent leg (their SDP all name this port); what a leg of the
server sends is returned to that leg, so the bridge relays real audio both ways.
"""

from __future__ import annotations

import argparse
import contextlib
import socket


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind(("127.0.0.1", args.port))
    receive, send = sock.recvfrom, sock.sendto
    while True:
        data, source = receive(2048)
        with contextlib.suppress(OSError):  # a leg that is gone: nothing to do
            send(data, source)


if __name__ == "__main__":
    main()
