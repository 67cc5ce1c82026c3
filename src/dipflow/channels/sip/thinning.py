"""Audio nobody hears, thinned in the kernel before it wakes the media worker. Layer 4.

A caller waiting in a queue talks (phones send RTP for the whole call) but nobody listens:
the leg is not bridged, not tapped, and its keys come as RFC 4733 events. Each of those
packets still cost the worker a wake-up, a read and a parse (~10 µs: docs/benchmarks.md,
H), and at 1,000 calls half of them queue: 25,000 packets a second for nothing. A
classic BPF filter on the leg's socket (`SO_ATTACH_FILTER`: no privilege, one system
call) lets through every packet that is not audio (RFC 4733 events, comfort noise,
rtcp-mux) and one audio packet in `KEEP_ONE_IN` (by sequence number): enough to keep the
peer latched and the RTP watchdog fed (each one counts for `KEEP_ONE_IN`). The kernel
drops the rest before they are queued to the socket.

The filter reads the RTP header at fixed offsets from the UDP header (where a UDP
socket's filter starts): byte 1 (marker and payload type) at 9, the sequence at 10.
"""

from __future__ import annotations

import contextlib
import ctypes
import socket
import struct

SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
"""Linux's socket options (asm-generic/socket.h); the socket module does not name them."""

KEEP_ONE_IN = 16
"""Audio packets let through: one in this many (a power of two: a mask of the sequence)."""

AUDIO_PAYLOAD_TYPES = (0, 8, 9)
"""PCMU, PCMA and G.722: the static types of the codecs dipflow speaks (RFC 3551)."""

_LDB, _LDH, _AND, _JEQ, _RET = 0x30, 0x28, 0x54, 0x15, 0x06
"""BPF_LD|BPF_B|BPF_ABS, BPF_LD|BPF_H|BPF_ABS, BPF_ALU|BPF_AND|BPF_K, BPF_JMP|BPF_JEQ|BPF_K,
BPF_RET|BPF_K (linux/filter.h)."""
_ACCEPT, _DROP = 0xFFFFFFFF, 0


def program(keep_one_in: int = KEEP_ONE_IN) -> list[tuple[int, int, int, int]]:
    """The filter: (code, jump if true, jump if false, constant) per instruction."""
    if keep_one_in < 1 or keep_one_in & (keep_one_in - 1):
        raise ValueError("keep_one_in must be a power of two")
    audio = len(AUDIO_PAYLOAD_TYPES)
    checks = [
        # Each check jumps to the sampling on a match; the last one, on a miss, accepts.
        (_JEQ, audio - index - 1, 0 if index < audio - 1 else 3, payload_type)
        for index, payload_type in enumerate(AUDIO_PAYLOAD_TYPES)
    ]
    return [
        (_LDB, 0, 0, 9),  # marker bit and payload type
        (_AND, 0, 0, 0x7F),
        *checks,
        (_LDH, 0, 0, 10),  # the sequence number
        (_AND, 0, 0, keep_one_in - 1),
        (_JEQ, 0, 1, 0),
        (_RET, 0, 0, _ACCEPT),
        (_RET, 0, 0, _DROP),
    ]


class _Fprog(ctypes.Structure):
    """struct sock_fprog: the length and a pointer to the instructions."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def thin(sock: socket.socket, keep_one_in: int = KEEP_ONE_IN) -> None:
    """Attach the filter to `sock` (the kernel copies the program)."""
    instructions = program(keep_one_in)
    code = ctypes.create_string_buffer(
        b"".join(struct.pack("=HBBI", *instruction) for instruction in instructions)
    )
    fprog = _Fprog(len(instructions), ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))


def unthin(sock: socket.socket) -> None:
    """Every packet again (a socket without a filter: nothing to do)."""
    with contextlib.suppress(OSError):  # ENOENT: no filter attached
        sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)
