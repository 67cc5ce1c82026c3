"""The kernel relay's helper process: the media worker's nftables work. Layer 4 (channels).

The media worker decides which bridged pairs the kernel relays (`kernel_bridges.py`);
this process, its child, writes them into the table (`kernel_relay.py`) and reads their
counters. Why not in the worker: libnftables' work is C that holds the core (~1 ms to add
25 pairs, ~11 ms to list a thousand counters on this machine). In the worker's loop it
delays the pacer; in a thread of the worker it still does, whenever the worker runs in
the real-time class (a SCHED_FIFO thread is not preempted by its siblings) and through
the GIL otherwise. Here it runs in the normal class at niceness 10, whatever the
worker's class, so the pacer always comes first. It is also the only process that needs
CAP_NET_ADMIN.

Messages (framed as `media_wire.py` frames them), worker -> helper: ``("add", token,
routes)``, ``("remove", routes)``, ``("count",)``, a route being the four addresses of a
`Route`; helper -> worker: ``("ready", table)`` or ``("failed", reason)`` first, then
``("added", token, error or None)`` and ``("counted", {route key: packets})``. Requests
are applied in the order they come. At the end of its socket (the worker stopped or
died) the helper deletes its table and exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from dipflow.channels.sip.kernel_relay import KernelRelay, Route
from dipflow.channels.sip.media_wire import Message, encode, read_message_blocking
from dipflow.channels.sip.nftables import NftablesError
from dipflow.channels.sip.scheduling import short_slice

log = logging.getLogger(__name__)

NICENESS = 10


def background() -> None:
    """The normal scheduling class at `NICENESS` with the default slice (the worker's child
    inherits its class and its slice: never this one's)."""
    if hasattr(os, "sched_setscheduler") and os.sched_getscheduler(0) != os.SCHED_OTHER:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    os.setpriority(os.PRIO_PROCESS, 0, max(NICENESS, os.getpriority(os.PRIO_PROCESS, 0)))
    short_slice(0)  # nor the worker's short slice: the kernel's default


def _routes(items: object) -> tuple[Route, ...]:
    if not isinstance(items, (list, tuple)):
        raise ValueError("routes: not a sequence")
    return tuple(Route(*(tuple(address) for address in item)) for item in items)


def serve(sock: socket.socket, relay: KernelRelay) -> None:
    """Apply the worker's requests until it closes the socket."""
    requests = sock.makefile("rb")
    while True:
        message: Message | None = read_message_blocking(requests)
        if message is None:
            return
        kind = message[0]
        if kind == "add":
            try:
                relay.add(_routes(message[2]))
                error = None
            except (NftablesError, ValueError, TypeError) as exc:
                error = str(exc)
            sock.sendall(encode(("added", message[1], error)))
        elif kind == "remove":
            try:
                relay.remove(_routes(message[1]))
            except (ValueError, TypeError) as exc:
                log.warning("kernel relay helper: bad routes to remove: %s", exc)
        elif kind == "count":
            sock.sendall(encode(("counted", relay.counters())))
        else:
            log.error("kernel relay helper: unknown request %r", kind)


def main() -> None:
    parser = argparse.ArgumentParser(description="dipflow kernel relay helper (of a media worker)")
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    background()
    sock = socket.socket(fileno=args.fd)
    sock.setblocking(True)
    try:
        relay = KernelRelay.open()
    except NftablesError as exc:
        sock.sendall(encode(("failed", str(exc))))
        return
    try:
        sock.sendall(encode(("ready", relay.table)))
        serve(sock, relay)
    finally:
        relay.close()


if __name__ == "__main__":
    main()
