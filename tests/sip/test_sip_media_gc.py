"""The media worker's collector discipline: what it freezes is freed when calls end.

The worker freezes what it holds every few seconds (`media_worker.age_out`), so full
collections never scan a thousand calls' sessions. That is only safe if a closed leg
leaves no reference cycle: a frozen cycle is never collected. These tests open and
close legs the way the worker does (RTCP reports running, the worker's report
callback, bridged pairs) and check that nothing of them is left, frozen or not.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from typing import Any

from dipflow.channels.sip.media_worker import MediaWorker, age_out
from dipflow.channels.sip.sdp import Codec, Direction, Negotiated
from tests.sip.test_sip_media_worker import _port_range


def _negotiated(port: int) -> dict[str, Any]:
    """A `configure` command's fields, as `MediaLeg.configure` sends them."""
    negotiated = Negotiated(codec=Codec.PCMU, dtmf_payload_type=101, remote_address="127.0.0.1",
                            remote_port=port, direction=Direction.SENDRECV)  # fmt: skip
    fields = dataclasses.asdict(negotiated)
    fields.update(codec=int(negotiated.codec), direction=negotiated.direction.value,
                  crypto=tuple(negotiated.crypto))  # fmt: skip
    return fields


async def _calls(worker: MediaWorker, count: int, first_leg: int) -> None:
    """`count` bridged pairs opened, configured, reporting RTCP, then closed."""
    legs = list(range(first_leg, first_leg + 2 * count))
    for leg in legs:
        await worker.handle(("open", leg, "127.0.0.1"))
        await worker.handle(("configure", leg, _negotiated(9)))
        await worker.handle(("rtcp", leg, 5.0))
        await worker.handle(("sending", leg, True))
    for a, b in zip(legs[::2], legs[1::2], strict=True):
        await worker.handle(("bridge", a, b))
        await worker.handle(("bridge", b, a))
    age_out()  # frozen while the calls are up, as in service
    for leg in legs:
        await worker.handle(("close", leg))


async def test_closed_calls_leave_nothing_frozen_or_cyclic() -> None:
    low, high = _port_range(400)
    events: list[Any] = []
    worker = MediaWorker({"host": "127.0.0.1", "rtp_port_min": low, "rtp_port_max": high,
                          "kernel_relay": "off"}, events.append)  # fmt: skip
    worker.start()
    try:
        await _calls(worker, 10, 1)  # warm-up: caches, interned names, asyncio internals
        await asyncio.sleep(0.05)
        gc.collect()
        age_out()
        frozen = gc.get_freeze_count()

        await _calls(worker, 50, 1000)
        await asyncio.sleep(0.05)
        # Nothing of the 100 legs is still frozen (each would be ~15 objects)...
        assert gc.get_freeze_count() - frozen < 50
        # ... nor waiting for the collector as a cycle.
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            kinds = {type(o).__name__ for o in gc.garbage}
            assert not kinds & {"RtpSession", "RtcpReports", "MediaPeer", "RtcpState"}, kinds
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    finally:
        await worker.stop()
        gc.unfreeze()
