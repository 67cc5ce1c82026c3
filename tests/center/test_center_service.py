"""The asyncio service: real timers, subscribers, cross-node relay, concurrent tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator

import pytest

from dipflow.center import (
    AgentState,
    CenterError,
    CenterStoreError,
    ContactAssigned,
    ContactCenter,
    ContactOffered,
    MemoryCenterStore,
    Notification,
    OfferRescinded,
    QueueConfig,
)
from dipflow.center.redis_store import RedisCenterStore
from tests.center.center_helpers import OfferLedger, Recorder, check_snapshot, sample_config


async def wait_for(recorder: Recorder, kind: type) -> Notification:
    timeout = 5.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = recorder.of(kind)
        if found:
            return found[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {kind.__name__} within {timeout} s: {recorder.notes}")


async def test_timer_task_fires_ring_timeout_and_wrap_up() -> None:
    config = sample_config(
        queues=[QueueConfig(name="sales", teams=["blue"], ring_timeout_s=0.1)], wrap_up_s=0.1
    )
    center = ContactCenter(config, MemoryCenterStore())
    rec = Recorder()
    center.subscribe(rec)
    await center.start()
    try:
        await center.login("alice")
        await center.set_available("alice")
        started = time.monotonic()
        await center.enqueue("c1", "sales")
        rescinded = await wait_for(rec, OfferRescinded)
        assert rescinded == OfferRescinded(call_id="c1", agent_id="alice", reason="rona")
        assert 0.09 <= time.monotonic() - started < 1.0
        await center.login("bob")
        rec.clear()
        await center.set_available("bob")
        await center.accept("bob", "c1")
        await center.end_contact("c1")
        changed = [n for n in rec.notes if getattr(n, "state", None) is AgentState.WRAP_UP]
        assert changed
        deadline = time.monotonic() + 5
        while (await center.snapshot()).agents[1].state is not AgentState.AVAILABLE:
            assert time.monotonic() < deadline, "wrap-up never ended"
            await asyncio.sleep(0.01)
    finally:
        await center.stop()


async def test_subscribers_async_failing_and_unsubscribed(caplog: pytest.LogCaptureFixture) -> None:
    center = ContactCenter(sample_config(), MemoryCenterStore())
    seen: list[Notification] = []
    gone: list[Notification] = []

    async def slow(note: Notification) -> None:
        await asyncio.sleep(0)
        seen.append(note)

    def broken(note: Notification) -> None:
        raise RuntimeError("subscriber bug")

    center.subscribe(broken)
    center.subscribe(slow)
    unsubscribe = center.subscribe(gone.append)
    unsubscribe()
    unsubscribe()  # twice is harmless
    with caplog.at_level(logging.ERROR, logger="dipflow.center.service"):
        await center.enqueue("c1", "sales")
    assert [type(n).__name__ for n in seen] == ["ContactQueued"]
    assert gone == []
    assert "subscriber failed" in caplog.text


def _running_timer_tasks() -> list[asyncio.Task[object]]:
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_name() == "contact-center-timers" and not task.done()
    ]


async def test_start_stop_are_idempotent() -> None:
    config = sample_config(queues=[QueueConfig(name="sales", teams=["blue"], ring_timeout_s=0.1)])
    center = ContactCenter(config, MemoryCenterStore())
    rec = Recorder()
    center.subscribe(rec)
    await center.start()
    await center.start()
    assert len(_running_timer_tasks()) == 1  # a second start does not fire every timer twice
    await center.stop()
    await center.stop()
    assert _running_timer_tasks() == []
    # Stopped means no timer fires: the offer rings past its timeout without a rescind.
    await center.login("alice")
    await center.set_available("alice")
    await center.enqueue("c1", "sales")
    await asyncio.sleep(0.3)
    assert rec.of(OfferRescinded) == []
    # Started again, the overdue ring timeout fires.
    await center.start()
    try:
        rescinded = await wait_for(rec, OfferRescinded)
        assert rescinded == OfferRescinded(call_id="c1", agent_id="alice", reason="rona")
    finally:
        await center.stop()


async def test_same_memory_store_cannot_take_another_config() -> None:
    store = MemoryCenterStore()
    ContactCenter(sample_config(), store)
    ContactCenter(sample_config(), store)  # same config: a second service shares the state
    with pytest.raises(CenterError):
        ContactCenter(sample_config(wrap_up_s=99), store)


@pytest.mark.slow
async def test_relay_delivers_other_nodes_notifications(redis_url: str, redis_prefix: str) -> None:
    node_a = ContactCenter(
        sample_config(), RedisCenterStore.from_url(redis_url, prefix=redis_prefix)
    )
    node_b = ContactCenter(
        sample_config(), RedisCenterStore.from_url(redis_url, prefix=redis_prefix)
    )
    rec_a, rec_b = Recorder(), Recorder()
    node_a.subscribe(rec_a)
    node_b.subscribe(rec_b)
    await node_a.start()
    await node_b.start()

    async def settle() -> None:
        """Wait until the relay has brought each node the other's notifications."""
        deadline = time.monotonic() + 5
        while len(rec_a.notes) != len(rec_b.notes):
            assert time.monotonic() < deadline, (rec_a.notes, rec_b.notes)
            await asyncio.sleep(0.01)

    try:
        await node_b.login("alice")  # the agent's desktop hangs on node B
        await node_b.set_available("alice")
        await settle()
        await node_a.enqueue("c1", "sales", data={"Case": "CAS-1"})  # the caller is on node A
        offer = await wait_for(rec_b, ContactOffered)
        assert offer == ContactOffered(
            call_id="c1", agent_id="alice", queue="sales", data={"Case": "CAS-1"}
        )
        await settle()
        assert await node_b.accept("alice", "c1")
        assert await wait_for(rec_a, ContactAssigned) == ContactAssigned(
            call_id="c1", agent_id="alice"
        )
        await settle()
        # each node saw every notification exactly once, in the same order
        assert rec_a.notes == rec_b.notes
        assert len(rec_a.of(ContactOffered)) == 1
    finally:
        await node_a.stop()
        await node_b.stop()
        await node_a.store.aclose()
        await node_b.store.aclose()


async def _simulate(nodes: list[ContactCenter], seed: int, seconds: float) -> dict[str, int]:
    """Callers and agents as concurrent tasks on random nodes, with real (short) timers."""
    rng = random.Random(seed)
    offers: dict[str, asyncio.Queue[ContactOffered]] = {
        a: asyncio.Queue() for a in ("alice", "bob", "carol")
    }
    accepted: dict[str, int] = {}

    def route(note: Notification) -> None:
        if isinstance(note, ContactOffered):
            offers[note.agent_id].put_nowait(note)

    nodes[0].subscribe(route)  # with a relay, node 0 sees every node's offers
    stop_at = time.monotonic() + seconds

    def node() -> ContactCenter:
        return rng.choice(nodes)

    async def caller(i: int) -> None:
        await asyncio.sleep(rng.random() * seconds / 2)
        await node().enqueue(
            f"c{i}", rng.choice(["sales", "support", "overflow"]), priority=rng.randint(0, 2)
        )
        await asyncio.sleep(rng.random() * seconds)
        await node().abandon(f"c{i}")  # hangs up, whatever state it is in

    async def agent(agent_id: str) -> None:
        await node().login(agent_id)
        await node().set_available(agent_id)
        while time.monotonic() < stop_at:
            try:
                offer = await asyncio.wait_for(offers[agent_id].get(), 0.05)
            except TimeoutError:
                with contextlib.suppress(CenterError):  # e.g. ringing meanwhile
                    await node().set_available(agent_id)
                continue
            choice = rng.random()
            await asyncio.sleep(rng.random() * 0.06)  # races with the 0.05 s ring timeout
            if choice < 0.6:
                results = await asyncio.gather(*(n.accept(agent_id, offer.call_id) for n in nodes))
                if any(results):
                    accepted[offer.call_id] = accepted.get(offer.call_id, 0) + sum(results)
                    await asyncio.sleep(rng.random() * 0.02)
                    await node().end_contact(offer.call_id)
                    if rng.random() < 0.5:
                        await node().end_wrap_up(agent_id)
            elif choice < 0.8:
                await node().decline(agent_id, offer.call_id)
            elif choice < 0.9:
                await node().logout(agent_id)
                await node().login(agent_id)

    async def monitor() -> None:
        while time.monotonic() < stop_at + 0.2:
            check_snapshot(await node().snapshot())
            await asyncio.sleep(0.005)

    await asyncio.gather(*(caller(i) for i in range(60)), *(agent(a) for a in offers), monitor())
    return accepted


def _fast_config() -> object:
    return sample_config(
        queues=[
            QueueConfig(
                name="sales",
                teams=["blue"],
                ring_timeout_s=0.05,
                max_wait_s=0.5,
                fallback_queue="overflow",
            ),
            QueueConfig(name="overflow", teams=["green"], ring_timeout_s=0.05),
            QueueConfig(
                name="support", teams=["green", "blue"], ring_timeout_s=0.05, max_wait_s=0.4
            ),
        ],
        wrap_up_s=0.01,
    )


@pytest.mark.slow
async def test_concurrent_tasks_memory_store() -> None:
    center = ContactCenter(_fast_config(), MemoryCenterStore(), poll_interval_s=0.02)  # type: ignore[arg-type]
    ledger = OfferLedger()
    center.subscribe(ledger)
    await center.start()
    try:
        accepted = await _simulate([center], seed=7, seconds=1.5)
    finally:
        await center.stop()
    assert accepted and set(accepted.values()) == {1}
    assert sum(ledger.assigned_count.values()) == len(accepted)


@pytest.mark.slow
async def test_concurrent_tasks_two_nodes_on_redis(redis_url: str, redis_prefix: str) -> None:
    """Two nodes with their own timer tasks and relays; a third store observes the
    notifications in commit order and replays them through the exactly-once ledger."""
    config = _fast_config()
    stores = [
        RedisCenterStore.from_url(redis_url, prefix=redis_prefix) for _ in range(3)
    ]
    nodes = [ContactCenter(config, s, clock=time.time, poll_interval_s=0.02) for s in stores[:2]]  # type: ignore[arg-type]
    stores[2].bind(config)  # type: ignore[arg-type]
    feed = await stores[2].remote_notifications()
    assert feed is not None
    ledger = OfferLedger()
    observed: list[Notification] = []

    async def observe() -> None:
        async for notes in feed:
            for note in notes:
                ledger(note)
                observed.append(note)

    observer = asyncio.create_task(observe())
    for center in nodes:
        await center.start()
    try:
        accepted = await _simulate(nodes, seed=11, seconds=1.5)
        await asyncio.sleep(0.2)
    finally:
        for center in nodes:
            await center.stop()
        observer.cancel()
        for store in stores:
            await store.aclose()
    assert accepted and set(accepted.values()) == {1}
    assert sum(ledger.assigned_count.values()) == len(accepted)
    assert any(isinstance(n, OfferRescinded) and n.reason == "rona" for n in observed)


@pytest.mark.slow
async def test_default_clock_follows_the_store(redis_url: str, redis_prefix: str) -> None:
    """Deadlines in Redis outlive the process and are shared: wall clock there."""
    store = RedisCenterStore.from_url(redis_url, prefix=redis_prefix)
    try:
        shared = ContactCenter(sample_config(), store)
        await shared.enqueue("c1", "support")  # max wait 30 s
        deadline = await store.next_deadline()
        assert deadline is not None and abs(deadline - (time.time() + 30)) < 5
    finally:
        await store.aclose()
    local = ContactCenter(sample_config(), MemoryCenterStore())
    await local.enqueue("c1", "support")
    deadline = await local.store.next_deadline()
    assert deadline is not None and abs(deadline - (time.monotonic() + 30)) < 5


class FlakyFeedStore(MemoryCenterStore):
    """A shared store whose notification feed breaks once, like a dropped Redis connection."""

    durable = False

    def __init__(self) -> None:
        super().__init__()
        self.subscriptions = 0

    async def remote_notifications(self) -> AsyncIterator[list[Notification]] | None:
        self.subscriptions += 1
        attempt = self.subscriptions

        async def feed() -> AsyncIterator[list[Notification]]:
            if attempt == 1:
                raise ConnectionError("connection lost")
            yield [OfferRescinded(call_id="c9", agent_id="bob", reason="rona")]
            await asyncio.Event().wait()  # then quiet, until cancelled

        return feed()


async def test_relay_resubscribes_after_an_outage(caplog: pytest.LogCaptureFixture) -> None:
    store = FlakyFeedStore()
    center = ContactCenter(sample_config(), store, poll_interval_s=0.01)
    rec = Recorder()
    center.subscribe(rec)
    with caplog.at_level(logging.ERROR, logger="dipflow.center.service"):
        await center.start()
        try:
            assert await wait_for(rec, OfferRescinded) == OfferRescinded(
                call_id="c9", agent_id="bob", reason="rona"
            )
        finally:
            await center.stop()
    assert store.subscriptions == 2
    assert "relay of other nodes' notifications failed" in caplog.text


async def test_stop_returns_while_state_changes_keep_waking_the_timers() -> None:
    """stop() must end the timer task even when a state change wakes it at that moment
    (Python 3.11's wait_for could swallow that cancellation and stop() hung)."""
    for _ in range(30):
        center = ContactCenter(sample_config(), MemoryCenterStore())
        await center.start()
        await center.login("alice")
        await asyncio.sleep(0.01)  # the timer task is now waiting for a wake-up
        # A state change wakes the timer task, and stop() cancels it in the same turn of
        # the loop: the cancellation lands while the wake-up is being delivered.
        await center.set_available("alice")
        async with asyncio.timeout(5):
            await center.stop()
        assert center._task is None


class OutageStore(MemoryCenterStore):
    """A store whose timer steps fail as Redis does when it is unreachable."""

    async def handle_timers(self, now: float) -> list[Notification]:
        raise CenterStoreError("redis: handle_timers failed: Connection refused")


async def test_a_store_outage_is_a_warning_and_the_timers_keep_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    center = ContactCenter(sample_config(), OutageStore(), poll_interval_s=0.01)
    with caplog.at_level(logging.WARNING, logger="dipflow.center.service"):
        await center.start()
        await asyncio.sleep(0.05)
        assert center._task is not None and not center._task.done()
        await center.stop()
    failures = [r for r in caplog.records if "firing timers failed" in r.getMessage()]
    assert len(failures) >= 2  # retried, not dead after the first failure
    # An expected outage: a warning naming the cause, not an error with a traceback.
    assert {r.levelno for r in failures} == {logging.WARNING}
    assert all(r.exc_info is None for r in failures)
    assert "Connection refused" in failures[0].getMessage()


class SlowToStopStore(MemoryCenterStore):
    """A store whose timer step takes time to unwind when cancelled (closing a socket)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_timers(self, now: float) -> list[Notification]:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await self.release.wait()
            raise
        return []


async def test_a_cancelled_stop_ends_cancelled() -> None:
    # A shutdown with its own deadline must be able to give up on stop(): stop() must not
    # swallow the cancellation it receives while the timer task is still unwinding.
    store = SlowToStopStore()
    center = ContactCenter(sample_config(), store)
    await center.start()
    await store.entered.wait()
    stopping = asyncio.create_task(center.stop())
    await asyncio.sleep(0.01)
    assert not stopping.done()
    stopping.cancel()
    await asyncio.wait([stopping])
    assert stopping.cancelled()
    store.release.set()
    await asyncio.sleep(0.01)
