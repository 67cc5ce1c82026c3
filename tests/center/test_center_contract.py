"""Behaviour every CenterStore must have: each test runs on the memory store AND on Redis."""

from __future__ import annotations

import pytest

from dipflow.center import (
    AgentState,
    AgentStateChanged,
    ContactAssigned,
    ContactCenter,
    ContactEnded,
    ContactExists,
    ContactLeftQueue,
    ContactMovedQueue,
    ContactOffered,
    ContactQueued,
    ContactState,
    InvalidArgument,
    InvalidTransition,
    OfferRescinded,
    QueuePositionChanged,
    UnknownAgent,
    UnknownQueue,
    UnknownTeam,
)
from tests.center.center_helpers import FakeClock, Recorder


async def agent_state(center: ContactCenter, agent_id: str) -> tuple[AgentState, str | None]:
    snap = await center.snapshot()
    agent = next(a for a in snap.agents if a.agent_id == agent_id)
    return agent.state, agent.reason


async def available(center: ContactCenter, clock: FakeClock, *agents: str) -> None:
    for agent in agents:
        await center.login(agent)
        clock.advance(1)
        await center.set_available(agent)


async def test_longest_available_agent_gets_the_next_contact(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await center.login("alice")
    await center.login("bob")
    await center.set_available("bob")
    clock.advance(1)
    await center.set_available("alice")
    await center.enqueue("c1", "sales", data={"Customer": "Ada"})
    offers = recorder.of(ContactOffered)
    assert offers == [
        ContactOffered(call_id="c1", agent_id="bob", queue="sales", data={"Customer": "Ada"})
    ]
    await center.enqueue("c2", "sales")
    assert recorder.of(ContactOffered)[-1].agent_id == "alice"  # type: ignore[attr-defined]


async def test_higher_priority_first_then_arrival(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await center.enqueue("low1", "sales")
    clock.advance(1)
    await center.enqueue("high", "sales", priority=5)
    clock.advance(1)
    await center.enqueue("low2", "sales")
    assert [
        (s.call_id, s.position)
        for s in [await center.queue_status(c) for c in ("high", "low1", "low2")]
        if s
    ] == [
        ("high", 1),
        ("low1", 2),
        ("low2", 3),
    ]
    queued = recorder.of(ContactQueued)
    assert [q.position for q in queued] == [1, 1, 3]  # type: ignore[attr-defined]
    # low1 was pushed back by the higher-priority arrival and is told so
    assert (
        QueuePositionChanged(call_id="low1", queue="sales", position=2, estimated_wait_s=None)
        in recorder.notes
    )
    await available(center, clock, "alice")
    await center.accept("alice", "high")
    await center.end_contact("high")
    await center.end_wrap_up("alice")
    assert recorder.of(ContactOffered)[-1].call_id == "low1"  # type: ignore[attr-defined]


async def test_estimated_wait_uses_handle_time_and_staffed_agents(
    center: ContactCenter, clock: FakeClock
) -> None:
    await center.login("alice")  # staffed (idle) on sales: 1 agent, default AHT 120 s
    for i in range(3):
        await center.enqueue(f"c{i}", "sales")
    status = await center.queue_status("c2")
    assert status is not None
    assert (status.position, status.estimated_wait_s) == (3, 360.0)
    await center.login("bob")
    status = await center.queue_status("c2")
    assert status is not None and status.estimated_wait_s == 180.0
    # One handled contact: 40 s talk + 10 s wrap-up = 50 s, folded into the average.
    await center.set_available("alice")
    await center.accept("alice", "c0")
    clock.advance(40)
    await center.end_contact("c0")
    snap = await center.snapshot()
    sales = next(q for q in snap.queues if q.name == "sales")
    assert sales.average_handle_time_s == pytest.approx(120 + 0.2 * (50 - 120))
    status = await center.queue_status("c2")
    assert status is not None and status.position == 2
    assert status.estimated_wait_s == pytest.approx(2 * 106 / 2)


async def test_nobody_staffed_gives_no_estimate(center: ContactCenter) -> None:
    await center.enqueue("c1", "sales")
    status = await center.queue_status("c1")
    assert status is not None and status.estimated_wait_s is None and status.position == 1


async def test_max_wait_moves_to_fallback_then_leaves(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await center.enqueue("c1", "support", fallback_queue="sales")
    clock.advance(29)
    await center.tick()
    assert not recorder.of(ContactMovedQueue)
    clock.advance(2)
    await center.tick()
    assert recorder.of(ContactMovedQueue) == [
        ContactMovedQueue(call_id="c1", from_queue="support", to_queue="sales")
    ]
    status = await center.queue_status("c1")
    assert status is not None and status.queue == "sales" and status.waited_s == 31
    clock.advance(61)  # sales: 60 s, then its fallback "overflow" (no max wait)
    await center.tick()
    assert recorder.of(ContactMovedQueue)[-1] == ContactMovedQueue(
        call_id="c1", from_queue="sales", to_queue="overflow"
    )
    clock.advance(10_000)
    await center.tick()
    status = await center.queue_status("c1")
    assert status is not None and status.queue == "overflow"


async def test_max_wait_without_fallback_leaves_with_reason(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await center.enqueue("c1", "support")
    await center.enqueue("c2", "support", max_wait_s=100)
    clock.advance(31)
    await center.tick()
    assert recorder.of(ContactLeftQueue) == [
        ContactLeftQueue(call_id="c1", queue="support", reason="max_wait")
    ]
    assert await center.queue_status("c1") is None
    status = await center.queue_status("c2")
    assert status is not None and status.position == 1


async def test_fallback_loop_leaves_with_no_fallback(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await center.enqueue("c1", "sales", max_wait_s=5, fallback_queue="support")
    clock.advance(6)
    await center.tick()
    await center.queue_status("c1")
    # support has a max wait of 30 s but no fallback of its own
    clock.advance(31)
    await center.tick()
    assert recorder.of(ContactLeftQueue)[-1] == ContactLeftQueue(
        call_id="c1", queue="support", reason="max_wait"
    )
    await center.enqueue("c2", "support", fallback_queue="sales")
    clock.advance(31)
    await center.tick()  # support -> sales
    clock.advance(61)
    await center.tick()  # sales -> overflow (configured fallback)
    assert [m.to_queue for m in recorder.of(ContactMovedQueue) if m.call_id == "c2"] == [
        "sales",
        "overflow",
    ]  # type: ignore[attr-defined]


async def test_ring_no_answer_returns_contact_to_head(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await available(center, clock, "alice")
    await center.enqueue("c1", "sales")
    clock.advance(1)
    await center.enqueue("c2", "sales")
    await center.enqueue("c3", "sales")
    clock.advance(15)
    await center.tick()
    assert OfferRescinded(call_id="c1", agent_id="alice", reason="rona") in recorder.notes
    assert await agent_state(center, "alice") == (AgentState.IDLE, "rona")
    status = await center.queue_status("c1")
    assert status is not None and (status.state, status.position) == (ContactState.QUEUED, 1)
    # the next available agent gets c1, not the later arrivals
    await center.login("bob")
    await center.set_available("bob")
    assert recorder.of(ContactOffered)[-1] == ContactOffered(
        call_id="c1", agent_id="bob", queue="sales", data={}
    )


async def test_decline_is_a_rona(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await available(center, clock, "alice", "bob")
    await center.enqueue("c1", "sales")
    await center.decline("alice", "c1")
    assert OfferRescinded(call_id="c1", agent_id="alice", reason="declined") in recorder.notes
    assert await agent_state(center, "alice") == (AgentState.IDLE, "rona")
    assert recorder.of(ContactOffered)[-1] == ContactOffered(
        call_id="c1", agent_id="bob", queue="sales", data={}
    )


async def test_accept_after_ring_timeout_fails(center: ContactCenter, clock: FakeClock) -> None:
    await available(center, clock, "alice")
    await center.enqueue("c1", "sales")
    clock.advance(15)
    await center.tick()
    assert await center.accept("alice", "c1") is False
    assert await agent_state(center, "alice") == (AgentState.IDLE, "rona")


async def test_accept_only_by_the_offered_agent(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await available(center, clock, "alice", "bob")
    await center.enqueue("c1", "sales")
    assert await center.accept("bob", "c1") is False
    assert await center.accept("alice", "c1") is True
    assert await center.accept("alice", "c1") is False
    assert recorder.of(ContactAssigned) == [ContactAssigned(call_id="c1", agent_id="alice")]
    assert await agent_state(center, "alice") == (AgentState.CONNECTED, None)
    status = await center.queue_status("c1")
    assert status is not None and status.state is ContactState.CONNECTED and status.position == 0


async def test_call_end_wrap_up_then_available(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await available(center, clock, "alice")
    await center.enqueue("c1", "sales")
    await center.accept("alice", "c1")
    await center.enqueue("c2", "sales")
    await center.end_contact("c1")
    assert ContactEnded(call_id="c1", agent_id="alice") in recorder.notes
    assert (await agent_state(center, "alice"))[0] is AgentState.WRAP_UP
    clock.advance(9.9)
    await center.tick()
    assert (await agent_state(center, "alice"))[0] is AgentState.WRAP_UP
    clock.advance(0.2)
    await center.tick()
    assert recorder.of(ContactOffered)[-1].call_id == "c2"  # type: ignore[attr-defined]
    assert (await agent_state(center, "alice"))[0] is AgentState.OFFERED


async def test_end_wrap_up_early_and_idle_from_wrap_up(
    center: ContactCenter, clock: FakeClock
) -> None:
    await available(center, clock, "alice", "bob")
    await center.enqueue("c1", "sales")
    await center.enqueue("c2", "sales")
    await center.accept("alice", "c1")
    await center.accept("bob", "c2")
    await center.end_contact("c1")
    await center.end_contact("c2")
    await center.end_wrap_up("alice")
    await center.set_idle("bob", "lunch")
    clock.advance(60)
    await center.tick()  # the wrap-up timers are gone: nothing changes
    assert await agent_state(center, "alice") == (AgentState.AVAILABLE, None)
    assert await agent_state(center, "bob") == (AgentState.IDLE, "lunch")


async def test_abandon_while_queued_offered_and_connected(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await center.enqueue("q1", "sales")
    await center.enqueue("q2", "sales")
    await center.abandon("q1")
    assert ContactLeftQueue(call_id="q1", queue="sales", reason="abandoned") in recorder.notes
    assert (
        QueuePositionChanged(call_id="q2", queue="sales", position=1, estimated_wait_s=None)
        in recorder.notes
    )
    await available(center, clock, "alice")
    assert recorder.of(ContactOffered)[-1].call_id == "q2"  # type: ignore[attr-defined]
    await center.enqueue("q3", "sales")
    await center.abandon("q2")  # while ringing at alice: she is free again and gets q3
    assert OfferRescinded(call_id="q2", agent_id="alice", reason="caller_hung_up") in recorder.notes
    assert recorder.of(ContactOffered)[-1] == ContactOffered(
        call_id="q3", agent_id="alice", queue="sales", data={}
    )
    assert await center.accept("alice", "q2") is False
    assert await center.accept("alice", "q3") is True
    await center.abandon("q3")  # hang-up during the call: the agent wraps up
    assert ContactEnded(call_id="q3", agent_id="alice") in recorder.notes
    assert (await agent_state(center, "alice"))[0] is AgentState.WRAP_UP
    await center.abandon("q3")  # twice, or unknown: harmless
    await center.abandon("nobody")


async def test_logout_while_offered_requeues(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await available(center, clock, "alice", "bob")
    await center.enqueue("c1", "sales")
    await center.logout("alice")
    assert (
        OfferRescinded(call_id="c1", agent_id="alice", reason="agent_logged_out") in recorder.notes
    )
    assert recorder.of(ContactOffered)[-1] == ContactOffered(
        call_id="c1", agent_id="bob", queue="sales", data={}
    )
    await center.accept("bob", "c1")
    with pytest.raises(InvalidTransition):
        await center.logout("bob")
    assert await agent_state(center, "bob") == (AgentState.CONNECTED, None)


async def test_max_wait_counts_the_time_spent_ringing(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    """A caller whose offer fails after the queue's maximum wait has passed is overdue at
    once: it moves to the fallback at the next tick, not a whole maximum wait later."""
    await center.enqueue("c1", "sales")  # max wait 60 s, then "overflow"
    entered = clock.now
    clock.advance(50)
    await available(center, clock, "alice")  # offered at +51; rings up to 15 s
    clock.advance(13)  # +64: past the maximum wait, before the ring timeout
    await center.logout("alice")  # the offer fails: back to the head of "sales"
    assert await center.store.next_deadline() == entered + 60  # already due
    await center.tick()
    assert ContactMovedQueue(call_id="c1", from_queue="sales", to_queue="overflow") in (
        recorder.notes
    )


async def test_agent_state_machine_rules(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    with pytest.raises(InvalidTransition):
        await center.set_available("alice")  # logged out
    await center.login("alice")
    await center.login("alice")  # reconnecting desktop: no-op
    assert recorder.of(AgentStateChanged) == [
        AgentStateChanged(agent_id="alice", state=AgentState.IDLE, reason="login", since=clock.now)
    ]
    await center.set_idle("alice", "break")
    await center.set_idle("alice", "break")
    await center.set_idle("alice", "meeting")
    await center.set_available("alice")
    await center.set_available("alice")
    states = [(n.state, n.reason) for n in recorder.of(AgentStateChanged)]  # type: ignore[attr-defined]
    assert states == [
        (AgentState.IDLE, "login"),
        (AgentState.IDLE, "break"),
        (AgentState.IDLE, "meeting"),
        (AgentState.AVAILABLE, None),
    ]
    await center.enqueue("c1", "sales")
    with pytest.raises(InvalidTransition):
        await center.set_idle("alice", "break")  # ringing: decline instead
    await center.logout("alice")
    await center.logout("alice")
    assert await agent_state(center, "alice") == (AgentState.LOGGED_OUT, None)


async def test_bad_input_is_refused_and_loses_nothing(
    center: ContactCenter, clock: FakeClock
) -> None:
    await center.enqueue("c1", "sales")
    with pytest.raises(UnknownQueue):
        await center.enqueue("c2", "nope")
    with pytest.raises(UnknownQueue):
        await center.enqueue("c2", "sales", fallback_queue="nope")
    with pytest.raises(ContactExists):
        await center.enqueue("c1", "support")
    with pytest.raises(InvalidArgument):
        await center.enqueue("c2", "sales", priority=2**40)
    with pytest.raises(InvalidArgument):
        await center.enqueue("c2", "sales", max_wait_s=-1)
    with pytest.raises(UnknownAgent):
        await center.login("mallory")
    with pytest.raises(UnknownTeam):
        await center.login("alice", teams=["green"])
    with pytest.raises(InvalidArgument):
        await center.set_idle("alice", "")
    status = await center.queue_status("c1")
    assert status is not None and status.queue == "sales" and status.position == 1
    assert await center.queue_status("c2") is None
    snap = await center.snapshot()
    assert [len(q.waiting) for q in snap.queues] == [1, 0, 0]


async def test_agent_in_two_queues_takes_best_head(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await center.enqueue("s1", "support")
    clock.advance(1)
    await center.enqueue("o1", "overflow")
    clock.advance(1)
    await center.enqueue("o2", "overflow", priority=1)
    await available(center, clock, "bob")  # blue + green: serves all three queues
    assert recorder.of(ContactOffered)[-1].call_id == "o2"  # type: ignore[attr-defined]
    await center.decline("bob", "o2")
    await center.set_available("bob")
    assert recorder.of(ContactOffered)[-1].call_id == "o2"  # type: ignore[attr-defined]
    await center.accept("bob", "o2")
    await center.end_contact("o2")
    await center.end_wrap_up("bob")
    assert recorder.of(ContactOffered)[-1].call_id == "s1"  # type: ignore[attr-defined]


async def test_login_to_some_teams_only(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    await center.enqueue("o1", "overflow")
    await center.login("bob", teams=["blue"])
    await center.set_available("bob")
    assert not recorder.of(ContactOffered)
    snap = await center.snapshot()
    bob = next(a for a in snap.agents if a.agent_id == "bob")
    assert bob.teams == ("blue",)


async def test_snapshot_for_supervisor(center: ContactCenter, clock: FakeClock) -> None:
    await available(center, clock, "alice")
    await center.login("carol")
    await center.enqueue("c1", "sales")
    clock.advance(5)
    await center.enqueue("c2", "sales", priority=3)
    clock.advance(5)
    await center.enqueue("c3", "overflow")
    clock.advance(2)
    snap = await center.snapshot()
    assert snap.taken_at == clock.now
    sales, overflow, support = snap.queues
    assert [w.call_id for w in sales.waiting] == ["c2"]
    assert sales.offered == 1 and sales.longest_wait_s == 7 and sales.agents_staffed == 1
    assert overflow.waiting[0].waited_s == 2 and overflow.agents_available == 0
    assert overflow.agents_staffed == 1 and support.agents_staffed == 2  # alice, carol
    alice = next(a for a in snap.agents if a.agent_id == "alice")
    assert (alice.state, alice.call_id, alice.name) == (AgentState.OFFERED, "c1", "Alice")


async def test_call_state_documents(center: ContactCenter) -> None:
    store = center.store
    assert await store.load_call_state("c1") is None
    await store.save_call_state("c1", '{"step": 1, "vars": {"name": "Ada"}}')
    await store.save_call_state("c1", '{"step": 2}')
    assert await store.load_call_state("c1") == '{"step": 2}'
    await store.delete_call_state("c1")
    assert await store.load_call_state("c1") is None


async def test_next_deadline_tracks_timers(center: ContactCenter, clock: FakeClock) -> None:
    assert await center.store.next_deadline() is None
    await center.enqueue("c1", "support")  # max wait 30 s
    assert await center.store.next_deadline() == clock.now + 30
    await available(center, clock, "alice")  # offered: ring 15 s from now (sales ring timeout)
    # alice serves support too (blue); ring timeout of support is the default 15 s
    assert await center.store.next_deadline() == clock.now + 15
    await center.accept("alice", "c1")
    assert await center.store.next_deadline() is None


async def test_work_per_event_stays_bounded_in_a_long_queue(
    center: ContactCenter, clock: FakeClock, recorder: Recorder
) -> None:
    """1500 waiting callers: no event fans out to the whole queue (positions are pushed to
    the first `position_updates` callers only; the rest ask `queue_status`)."""
    for i in range(1500):
        await center.enqueue(f"c{i}", "overflow", priority=i % 3)
    limit = center.config.position_updates
    recorder.clear()
    await center.abandon("c0")  # near the tail (priority 0)
    assert len(recorder.notes) <= limit + 1
    recorder.clear()
    await center.abandon("c2")  # at the head (priority 2, earliest): everyone moves up
    assert len(recorder.notes) == limit + 1
    assert [n.position for n in recorder.of(QueuePositionChanged)] == list(range(1, limit + 1))  # type: ignore[attr-defined]
    await center.login("carol")
    recorder.clear()
    await center.set_available("carol")  # takes the head
    assert len(recorder.notes) == limit + 3  # available, positions, offered, offered state
    # c1499 was the last of the 500 priority-2 callers; two of those have left the queue
    status = await center.queue_status("c1499")
    assert status is not None and status.position == 498
