"""Talking agent phones for the benchmark: each agent leg gets its own 20 ms RTP stream.

    .venv/bin/python bench/rtp_talker.py --port 40002

The agents' SDP all name `--port`. When a leg of the server first sends there, the
talker opens a socket for that leg (its own port, as a phone has), connects it to the
leg and from then on sends it one 172-byte PCMU packet every 20 ms (its own SSRC,
sequence and timestamps: an agent speaking), until the leg's port is closed (the
kernel's ICMP port unreachable ends it). The server latches onto that port (the SDP's
IP, another port: `latch.py`'s probation), so the agent's audio reaches the caller
through the bridge, whichever way the server relays it. What the server sends to a
talking leg is never read (a small receive buffer: the kernel drops it).

`--digit-after S` makes them callers' phones: S seconds after a leg's first packet the
phone presses 1 in its own stream (RFC 4733 §2.5: 100 ms of event packets on one
timestamp, the first marked, then the end packet three times), as phones send keys.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import socket
import struct
import time

FRAME_S = 0.02
PAYLOAD = bytes([0x7E, 0x7F] * 80)  # a quiet µ-law tone, 160 samples
HEADER = struct.Struct("!BBHII")
EVENT = struct.Struct("!BBH")
"""RFC 4733 §2.3: event, E/R/volume, duration (in samples)."""
TELEPHONE_EVENT = 101  # the payload type the benchmark's SDPs give telephone-event
KEY_FRAMES, END_REPEATS = 5, 3
"""A 100 ms press: 5 packets, the last of them the first of 3 end packets."""
EVENT_FRAMES = KEY_FRAMES - 1 + END_REPEATS


class _Leg:
    def __init__(self, server_leg: tuple[str, int], digit_after_s: float | None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.connect(server_leg)
        self.sock.setblocking(False)
        self.ssrc = random.getrandbits(32)
        self.sequence = random.getrandbits(16)
        self.timestamp = random.getrandbits(32)
        self.frames = 0
        self.key_at = None if digit_after_s is None else round(digit_after_s / FRAME_S)
        """The frame at which this phone presses its key (None: it never does)."""

    def _next(self) -> bytes:
        """This frame's packet: audio, or a part of the key press."""
        frame, key_at = self.frames, self.key_at
        self.frames += 1
        sequence = self.sequence
        self.sequence = (sequence + 1) & 0xFFFF
        if key_at is not None and key_at <= frame < key_at + EVENT_FRAMES:
            step = frame - key_at  # every event packet carries the event's start timestamp
            end = step >= KEY_FRAMES - 1
            duration = 160 * min(step + 1, KEY_FRAMES)
            marker = 0x80 if step == 0 else 0
            header = HEADER.pack(0x80, marker | TELEPHONE_EVENT, sequence, self.timestamp,
                                 self.ssrc)  # fmt: skip
            if step == EVENT_FRAMES - 1:  # the event is over: its frames' time has passed
                self.timestamp = (self.timestamp + 160 * EVENT_FRAMES) & 0xFFFFFFFF
            return header + EVENT.pack(1, (0x80 if end else 0) | 10, duration)
        packet = HEADER.pack(0x80, 0, sequence, self.timestamp, self.ssrc) + PAYLOAD
        self.timestamp = (self.timestamp + 160) & 0xFFFFFFFF
        return packet

    def send(self) -> bool:
        """One packet; False once the leg is gone."""
        packet = self._next()
        try:
            self.sock.send(packet)
        except ConnectionRefusedError:
            return False
        except BlockingIOError:
            pass
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--digit-after", type=float, default=None,
                        help="seconds after a leg's first packet to press 1 (callers)")  # fmt: skip
    args = parser.parse_args()
    listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listen.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    listen.bind(("127.0.0.1", args.port))
    listen.setblocking(False)
    legs: dict[tuple[str, int], _Leg] = {}
    deadline = time.monotonic()
    while True:
        while True:  # new legs: whoever sent to the agents' port
            try:
                _, source = listen.recvfrom(2048)
            except BlockingIOError:
                break
            key = (str(source[0]), int(source[1]))
            if key not in legs:
                legs[key] = _Leg(key, args.digit_after)
        for key, leg in list(legs.items()):
            if not leg.send():
                leg.sock.close()
                del legs[key]
        deadline += FRAME_S
        delay = deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -1:
            deadline = time.monotonic()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
