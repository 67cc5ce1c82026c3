"""Contacts for one named agent (Webex Queue To Agent) and queue statistics (Webex Get
Queue Info), on the memory store AND on Redis."""

from __future__ import annotations

import pytest

from dipflow.center import (
    AgentUnavailable,
    ContactCenter,
    ContactLeftQueue,
    ContactOffered,
    ContactQueued,
    UnknownAgent,
    UnknownQueue,
)
from tests.center.center_helpers import FakeClock, Recorder, check_snapshot


async def ready(center: ContactCenter, clock: FakeClock, *agents: str) -> None:
    for agent in agents:
        await center.login(agent)
        clock.advance(1)
        await center.set_available(agent)


def offers(recorder: Recorder) -> list[tuple[str, str]]:
    return [(n.call_id, n.agent_id) for n in recorder.of(ContactOffered)]  # type: ignore[attr-defined]


def left(recorder: Recorder) -> list[tuple[str, str]]:
    return [(n.call_id, n.reason) for n in recorder.of(ContactLeftQueue)]  # type: ignore[attr-defined]


async def test_a_named_agent_gets_the_contact_even_when_another_waited_longer(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await ready(center, clock, "alice", "bob")
    await center.enqueue("c1", "sales", agent="bob")
    assert offers(recorder) == [("c1", "bob")]
    assert (await center.queue_status("c1")) is not None


async def test_a_busy_named_agent_is_waited_for_when_parked_and_refused_otherwise(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await ready(center, clock, "alice")
    await center.enqueue("c0", "sales")  # alice is now ringing with c0
    with pytest.raises(AgentUnavailable, match="while offered"):
        await center.enqueue("c1", "sales", agent="alice")
    await center.enqueue("c1", "support", agent="alice", park=True)
    snap = await center.snapshot()
    check_snapshot(snap)
    alice = next(a for a in snap.agents if a.agent_id == "alice")
    assert alice.parked == ("c1",)
    assert all("c1" not in [w.call_id for w in q.waiting] for q in snap.queues)
    await ready(center, clock, "bob")  # bob serves support: not his contact
    assert ("c1", "bob") not in offers(recorder)
    assert await center.accept("alice", "c0")
    await center.end_contact("c0")
    await center.end_wrap_up("alice")
    assert offers(recorder)[-1] == ("c1", "alice")


async def test_a_named_agent_logged_out_or_unknown_is_refused_at_once(
    center: ContactCenter,
) -> None:
    with pytest.raises(AgentUnavailable, match="logged_out"):
        await center.enqueue("c1", "sales", agent="alice", park=True)
    with pytest.raises(UnknownAgent):
        await center.enqueue("c1", "sales", agent="nobody")
    assert all(not q.waiting for q in (await center.snapshot()).queues)


async def test_a_named_agent_who_does_not_answer_sends_the_contact_back_to_the_flow(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    """RONA, decline and logout: the contact leaves (the flow takes its recovery queue);
    it never goes to another agent, whoever is available."""
    await ready(center, clock, "alice", "bob")
    await center.enqueue("c1", "sales", agent="alice")
    clock.advance(15)
    await center.tick()  # ring timeout
    assert left(recorder) == [("c1", "agent_unavailable")]
    await center.set_available("alice")
    await center.enqueue("c2", "sales", agent="alice")
    await center.decline("alice", "c2")
    assert left(recorder)[-1] == ("c2", "agent_unavailable")
    await center.enqueue("c3", "sales")  # bob takes it (alice is idle after the decline)
    await center.enqueue("c4", "sales", agent="bob", park=True)
    await center.enqueue("c5", "sales", agent="bob", park=True)
    await center.logout("bob")
    assert left(recorder)[-2:] == [("c4", "agent_unavailable"), ("c5", "agent_unavailable")]
    sales = next(q for q in (await center.snapshot()).queues if q.name == "sales")
    assert [w.call_id for w in sales.waiting] == ["c3"]  # bob's ordinary offer went back
    check_snapshot(await center.snapshot())


async def test_parked_contacts_are_told_their_place_in_the_agents_line(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await ready(center, clock, "alice")
    await center.enqueue("c0", "sales")
    await center.enqueue("c1", "sales", agent="alice", park=True)
    await center.enqueue("c2", "support", agent="alice", park=True, priority=3)
    queued = {n.call_id: n for n in recorder.of(ContactQueued)}  # type: ignore[attr-defined]
    assert queued["c1"].position == 1 and queued["c2"].position == 1  # type: ignore[attr-defined]
    status = await center.queue_status("c1")
    assert status is not None and status.position == 2  # c2 has the higher priority
    assert status.queue == "sales"


async def test_queue_statistics_report_the_queue_as_the_caller_sees_it(
    center: ContactCenter, clock: FakeClock
) -> None:
    await center.login("alice")
    await center.enqueue("c1", "sales")
    clock.advance(10)
    await center.enqueue("c2", "sales", priority=5)
    clock.advance(5)
    stats = await center.queue_statistics("sales", "c1")
    assert (stats.waiting, stats.staffed, stats.available) == (2, 1, 0)
    assert stats.position == 2  # c2 has the higher priority
    assert stats.oldest_wait_s == 15.0  # c1 came first, even if c2 is ahead of it
    assert stats.estimated_wait_s == 2 * 120.0  # default handle time, one agent staffed
    other = await center.queue_statistics("sales", "somebody-else")
    assert other.position == 0 and other.estimated_wait_s == 3 * 120.0  # joining now
    empty = await center.queue_statistics("overflow")
    assert (empty.waiting, empty.staffed, empty.oldest_wait_s) == (0, 0, 0.0)
    assert empty.estimated_wait_s is None  # nobody staffed: no estimate
    with pytest.raises(UnknownQueue):
        await center.queue_statistics("nope")
