"""How the media worker asks the Linux scheduler for its deadlines. Layer 4 (channels).

Two levers, both for the thread that calls them:

- `short_slice`: the normal class (no privilege) with a short *slice*. Since Linux 6.6
  the normal class is EEVDF: a task's virtual deadline is its eligible time plus its
  slice, and since 6.12 a task that wakes with an earlier deadline than the running one
  preempts it (`sched_setattr` with `sched_runtime` sets the slice; the kernel clamps it
  to 0.1-100 ms). The pacer runs for a few hundred microseconds every 2 ms and sleeps in
  between; with the default slice (0.7-3 ms, scaled by the number of CPUs) a waking pacer
  waits for whatever else is running on its core to use its slice up, so a control-plane
  burst or a render becomes a late frame. Measured on this machine (2 ms ticks against
  two busy loops on the same core): p99 wake-up lateness 1.95-1.99 ms with the default
  slice, 0.08-0.09 ms with 0.1 ms.
- `realtime`: SCHED_FIFO (needs CAP_SYS_NICE), as media servers are often run.

The standard library has `sched_setscheduler` but not `sched_setattr`, and no package on
PyPI wraps it, so it is one system call through ctypes (struct `sched_attr`, its first
version: 48 bytes).
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import struct
import threading

log = logging.getLogger(__name__)

_SYS_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}
"""The system call's number: Linux's syscall tables for each architecture."""
_SCHED_ATTR = struct.Struct("=IIQiIQQQ")
"""size, policy, flags, nice, priority, runtime (the slice, ns), deadline, period."""
_SCHED_OTHER = 0
_SLICE_MIN_NS, _SLICE_MAX_NS = 100_000, 100_000_000
"""The kernel clamps a requested slice to this range."""


def short_slice(microseconds: int) -> bool:
    """Ask for a `microseconds` slice in the normal class (0: the kernel's default).

    False, with a warning, where the kernel refuses or ignores it (before 6.12, or not
    Linux on x86_64 or aarch64); the thread then keeps the default slice, which is
    correct, only later. True once the kernel reports the slice as the thread's.
    """
    number = _SYS_SCHED_SETATTR.get(platform.machine())
    if number is None or not hasattr(os, "sched_getscheduler"):
        log.warning("media worker: no sched_setattr on %s: default slice", platform.machine())
        return False
    if os.sched_getscheduler(0) != _SCHED_OTHER:
        return False  # a real-time or idle thread has no slice to shorten
    # The thread's own niceness goes back in: SCHED_FLAG_KEEP_PARAMS would keep it, but
    # it also keeps the old slice (the kernel skips the normal class's parameters).
    niceness = os.getpriority(os.PRIO_PROCESS, 0)  # Linux: the calling thread's
    attr = ctypes.create_string_buffer(
        _SCHED_ATTR.pack(
            _SCHED_ATTR.size, _SCHED_OTHER, 0, niceness, 0, microseconds * 1000, 0, 0
        )
    )
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(number, 0, attr, 0) != 0:
        error = ctypes.get_errno()
        log.warning(
            "media worker: a %d µs slice refused (%s): default slice", microseconds,
            os.strerror(error),
        )  # fmt: skip
        return False
    wanted = min(max(microseconds * 1000, _SLICE_MIN_NS), _SLICE_MAX_NS)
    if microseconds and slice_ns() != wanted:
        # Before 6.12 the normal class takes the call and ignores the slice (before 6.6
        # it has none to report): say so rather than claim a deadline we do not have.
        log.warning("media worker: this kernel ignores a task's slice: default slice")
        return False
    return True


def slice_ns() -> int | None:
    """The calling thread's slice as the kernel reports it (None where it does not)."""
    try:
        path = f"/proc/self/task/{threading.get_native_id()}/sched"
        with open(path, encoding="ascii") as report:
            for line in report:
                if line.startswith("se.slice"):
                    return int(line.split(":")[1])
    except (OSError, ValueError):
        return None
    return None


def realtime(priority: int) -> bool:
    """Ask for SCHED_FIFO at `priority` for the calling thread; False if not permitted."""
    if priority <= 0 or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (PermissionError, OSError) as exc:
        log.warning("media worker: real-time priority %s refused (%s)", priority, exc)
        return False
    return True


def media_class(priority: int, slice_us: int) -> None:
    """The media worker's scheduling, for the calling thread: SCHED_FIFO at `priority`
    where asked and granted, else the normal class with a `slice_us` slice (0: default)."""
    if not realtime(priority) and slice_us:
        short_slice(slice_us)
