"""Putting back what a store lost (issue 11, item 8), on the memory store AND on Redis:
`restore_connected` and `epoch`. The runtime's use of them is tested in
tests/security/test_sip_redis_restart.py against a restarted redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dipflow.center import (
    AgentState,
    AgentStateChanged,
    ContactAssigned,
    ContactCenter,
    ContactEnded,
    ContactOffered,
    ContactState,
)
from tests.center.center_helpers import FakeClock, Recorder


@pytest.fixture(autouse=True)
def _ledger_holds(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The center fixture's offer ledger reports through the subscriber guard's log."""
    yield
    failures = [r for r in caplog.records if "subscriber failed" in r.getMessage()]
    assert not failures, failures[0].exc_text


async def _agent(center: ContactCenter, agent_id: str) -> tuple[AgentState, str | None]:
    snap = await center.snapshot()
    agent = next(a for a in snap.agents if a.agent_id == agent_id)
    return agent.state, agent.call_id


async def test_a_lost_call_is_put_back_connected_to_its_agent(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await center.restore_connected("c1", "sales", "alice", data={"Customer": "Ada"})
    assert recorder.of(ContactAssigned) == [ContactAssigned(call_id="c1", agent_id="alice")]
    assert recorder.of(AgentStateChanged)[-1] == AgentStateChanged(
        agent_id="alice", state=AgentState.CONNECTED, reason=None, since=clock.now
    )
    assert await _agent(center, "alice") == (AgentState.CONNECTED, "c1")
    status = await center.queue_status("c1")
    assert status is not None and status.state is ContactState.CONNECTED
    # The agent is busy: a new caller is not offered to her...
    await center.enqueue("c2", "sales")
    assert recorder.of(ContactOffered) == []
    # ...and when the restored call ends she wraps up and takes the next one, as usual.
    await center.end_contact("c1")
    assert recorder.of(ContactEnded) == [ContactEnded(call_id="c1", agent_id="alice")]
    clock.advance(10)
    await center.tick()
    assert [o.call_id for o in recorder.of(ContactOffered)] == ["c2"]  # type: ignore[attr-defined]


async def test_an_available_agent_is_taken_off_the_available_list(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await center.login("alice")
    await center.set_available("alice")
    await center.restore_connected("c1", "sales", "alice")
    await center.enqueue("c2", "sales")
    assert recorder.of(ContactOffered) == []
    snap = await center.snapshot()
    sales = next(q for q in snap.queues if q.name == "sales")
    assert sales.agents_available == 0


async def test_the_store_wins_over_a_nodes_memory(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await center.login("bob")
    await center.set_available("bob")
    await center.enqueue("c1", "sales")  # offered to bob
    before = await center.snapshot()
    # A node remembers bob talking to another call, or c1 connected to alice: no-ops.
    await center.restore_connected("c9", "sales", "bob")
    await center.restore_connected("c1", "sales", "alice")
    after = await center.snapshot()
    assert after.agents == before.agents
    assert await _agent(center, "bob") == (AgentState.OFFERED, "c1")


async def test_the_epoch_stays_until_the_store_is_emptied(center: ContactCenter) -> None:
    first = await center.epoch()
    assert first
    assert await center.epoch() == first
