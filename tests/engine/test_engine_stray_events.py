"""Stray events a caller can send without end (keys during the hold music) keep the call's
trace, and so its saved state, bounded."""

from __future__ import annotations

from dipflow.engine.events import DigitsCollected
from dipflow.testing import FlowSimulator, HttpReply


def test_a_flood_of_stray_keys_is_one_trace_entry_with_a_count() -> None:
    sim = FlowSimulator(
        "ms-dynamics-data-dip",
        http={
            "GetCustomerInfo": HttpReply(status=200, json={"value": []}),
            "GetAccountInfo": HttpReply(status=200, json={"value": []}),
        },
    )
    sim.start()
    sim.advance(20)  # queued, music playing: no menu listens
    assert sim.state is not None
    before = len(sim.state.trace)
    for _ in range(1000):
        sim.send(DigitsCollected(digits="1"))
    assert len(sim.state.trace) == before + 1
    entry = sim.state.trace[-1]
    assert (entry.kind, entry.activity) == ("ignored", "DigitsCollected")
    assert entry.inputs["repeated"] == 1000
    assert sim.state.main is not None and not sim.state.finished
