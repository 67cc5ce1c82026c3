"""A stall profile of an asyncio process: what ran on the event loop when an RTP frame was late.

Used by `bench/sip.py --profile` (and the media design bench). It records, with little
overhead, three time series on the process's monotonic clock:

- every loop callback that took longer than `threshold_s` (start, end, a label naming
  what it was: a task's coroutine, a datagram protocol, a timer callback), by wrapping
  `asyncio.events.Handle._run` (the pure-Python loop only; uvloop's handles are C);
- every garbage collection (start, end, generation) from `gc.callbacks`;
- every pacer tick: its deadline, when its first and last packet left, how many.

`report()` then takes each late tick (its last packet later than `late_s` after the
deadline) and splits its lateness into: time before the pacer woke that overlapped a
slow callback or a collection (charged to that label), the rest of the wake delay
(nothing slow ran on the loop: the process was not scheduled, or the loop was in
many short callbacks or in `select`), and the pacer's own batch (sending the tick's
earlier packets). Totals are in milliseconds over all late ticks.
"""

from __future__ import annotations

import asyncio
import asyncio.events
import gc
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

_clock = time.monotonic


def _label(handle: asyncio.Handle) -> str:
    callback: Any = handle._callback  # type: ignore[attr-defined]
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        name = owner.get_name()
        if not name.startswith("Task-"):
            return f"task {name}"
        coro: Any = owner.get_coro()
        qualname = getattr(coro, "__qualname__", type(coro).__name__)
        frame = getattr(coro, "cr_frame", None)
        # Where the coroutine is suspended tells which await it resumes from.
        inner = coro
        while getattr(inner, "cr_await", None) is not None and hasattr(inner.cr_await, "cr_frame"):
            inner = inner.cr_await
        where = getattr(getattr(inner, "cr_code", None), "co_qualname", "")
        if frame is None:
            return f"task {qualname}"
        return f"task {qualname}" + (f" (in {where})" if where and where != qualname else "")
    protocol = getattr(owner, "_protocol", None)
    if protocol is not None:
        return f"{type(owner).__name__} -> {type(protocol).__qualname__}"
    if owner is not None:
        return f"{type(owner).__qualname__}.{getattr(callback, '__name__', '?')}"
    return str(getattr(callback, "__qualname__", repr(callback)))


class StallMonitor:
    """Install once in the server process; `note_packet` from the pacer's jitter hook."""

    def __init__(self, *, threshold_s: float = 0.0005, keep: int = 400_000) -> None:
        self.threshold_s = threshold_s
        self.callbacks: deque[tuple[float, float, str]] = deque(maxlen=keep)
        self.collections: deque[tuple[float, float, int]] = deque(maxlen=keep)
        self.ticks: deque[tuple[float, float, float, int]] = deque(maxlen=keep)
        self._gc_start = 0.0
        self._tick: list[float] | None = None  # deadline, first, last, count
        self._original: Callable[[asyncio.Handle], None] | None = None

    def install(self) -> None:
        original = asyncio.events.Handle._run
        self._original = original
        callbacks, threshold = self.callbacks, self.threshold_s

        def timed_run(handle: asyncio.Handle) -> None:
            start = _clock()
            original(handle)
            end = _clock()
            if end - start > threshold:
                callbacks.append((start, end, _label(handle)))

        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = _clock()
        else:
            self.collections.append((self._gc_start, _clock(), info["generation"]))

    def note_packet(self, lateness: float) -> None:
        """Called after each paced packet with its lateness (now - deadline)."""
        now = _clock()
        deadline = now - lateness
        tick = self._tick
        if tick is not None and abs(tick[0] - deadline) < 0.0015:
            tick[2] = now
            tick[3] += 1
            return
        if tick is not None:
            self.ticks.append((tick[0], tick[1], tick[2], int(tick[3])))
        self._tick = [deadline, now, now, 1]

    def reset(self) -> None:
        self.callbacks.clear()
        self.collections.clear()
        self.ticks.clear()
        self._tick = None

    def report(self, *, late_s: float = 0.005, top: int = 12) -> dict[str, Any]:
        charged: Counter[str] = Counter()
        counted: Counter[str] = Counter()
        late = 0
        total_late_ms = 0.0
        unaccounted = 0.0
        batch = 0.0
        callbacks = sorted(self.callbacks)
        collections = sorted(self.collections)
        for deadline, first, last, _n in self.ticks:
            if last - deadline <= late_s:
                continue
            late += 1
            total_late_ms += (last - deadline) * 1000
            window_end = max(deadline, first)
            batch += (last - window_end) * 1000
            explained = 0.0
            seen: set[str] = set()
            for start, end, label in _overlapping(callbacks, deadline - 0.1, window_end):
                if label == "task rtp-clock":
                    continue
                overlap = min(end, window_end) - max(start, deadline)
                if overlap > 0:
                    charged[label] += overlap * 1000
                    explained += overlap
                    if label not in seen:
                        counted[label] += 1
                        seen.add(label)
            for start, end, generation in _overlapping(collections, deadline - 0.1, window_end):
                overlap = min(end, window_end) - max(start, deadline)
                if overlap > 0:
                    label = f"gc generation {generation}"
                    charged[label] += overlap * 1000
                    counted[label] += 1
                    # A collection runs inside some callback: do not count it twice.
                    explained += 0.0
            unaccounted += max(0.0, (window_end - deadline) - explained) * 1000
        ticks = len(self.ticks)
        gc_ms = [round((end - start) * 1000, 2) for start, end, _g in self.collections]
        return {
            "ticks": ticks,
            "late_ticks": late,
            "late_share": round(late / ticks, 5) if ticks else 0.0,
            "late_ms_total": round(total_late_ms, 1),
            "pacer_own_batch_ms": round(batch, 1),
            "wake_delay_nothing_slow_on_loop_ms": round(unaccounted, 1),
            "wake_delay_by_callback_ms": {
                label: {"ms": round(ms, 1), "late_ticks": counted[label]}
                for label, ms in charged.most_common(top)
            },
            "gc": {
                "collections": len(gc_ms),
                "max_ms": max(gc_ms, default=0.0),
                "over_5ms": sum(1 for ms in gc_ms if ms > 5),
            },
            "slow_callbacks_by_label": _slowest(self.callbacks, top),
        }


def _overlapping(
    intervals: list[tuple[float, float, Any]], low: float, high: float
) -> list[tuple[float, float, Any]]:
    """Intervals (sorted by start) that end after `low` and start before `high`."""
    import bisect

    index = bisect.bisect_left(intervals, (low - 1.0,))
    found = []
    for item in intervals[index:]:
        if item[0] >= high:
            break
        if item[1] > low:
            found.append(item)
    return found


def _slowest(callbacks: deque[tuple[float, float, str]], top: int) -> dict[str, Any]:
    total: Counter[str] = Counter()
    longest: dict[str, float] = {}
    count: Counter[str] = Counter()
    for start, end, label in callbacks:
        ms = (end - start) * 1000
        total[label] += ms
        count[label] += 1
        longest[label] = max(longest.get(label, 0.0), ms)
    return {
        label: {"n": count[label], "total_ms": round(ms, 1), "max_ms": round(longest[label], 2)}
        for label, ms in total.most_common(top)
    }
