"""Redis-specific tests: the Lua script against the Python core, two nodes, failures."""

from __future__ import annotations

import asyncio
import random
import signal
import socket
import time
import uuid

import pytest
import redis.asyncio as aioredis

from dipflow.center import (
    AgentState,
    CenterError,
    CenterStoreError,
    ContactCenter,
    ContactOffered,
    MemoryCenterStore,
    Notification,
)
from dipflow.center.redis_store import COMMAND_TIMEOUT_S, RedisCenterStore
from tests.center.center_helpers import (
    FakeClock,
    OfferLedger,
    Recorder,
    check_snapshot,
    sample_config,
    skill_choices,
)
from tests.security.redis_proc import RedisProcess

pytestmark = pytest.mark.slow  # every test here talks to a real redis-server

CALLS = [f"call-{i}" for i in range(10)]
AGENTS = ["alice", "bob", "carol"]
QUEUES = ["sales", "overflow", "support"]
SKILLS = skill_choices()


def redis_store(url: str, prefix: str) -> RedisCenterStore:
    return RedisCenterStore.from_url(url, prefix=prefix)


async def _random_step(rng: random.Random, center: ContactCenter, clock: FakeClock) -> str:
    kind = rng.choice(
        ["enqueue", "enqueue", "abandon", "login", "logout", "available", "available", "idle",
         "accept", "accept", "decline", "end", "wrap", "time", "time", "named", "stats"]
    )  # fmt: skip
    call, agent = rng.choice(CALLS), rng.choice(AGENTS)
    try:
        if kind == "enqueue":
            requirements, relaxation = rng.choice(SKILLS)
            await center.enqueue(call, rng.choice(QUEUES), priority=rng.randint(-1, 2),
                                 data={"ani": f"+4930{rng.randint(0, 999)}"},
                                 skills=requirements, relaxation=relaxation)  # fmt: skip
        elif kind == "named":
            await center.enqueue(call, rng.choice(QUEUES), priority=rng.randint(-1, 2),
                                 agent=agent, park=rng.random() < 0.6)  # fmt: skip
        elif kind == "stats":
            return f"stats {await center.queue_statistics(rng.choice(QUEUES), call)}"
        elif kind == "abandon":
            await center.abandon(call)
        elif kind == "login":
            await center.login(agent, teams=rng.choice([None, ["blue"], ["green"]]))
        elif kind == "logout":
            await center.logout(agent)
        elif kind == "available":
            await center.set_available(agent)
        elif kind == "idle":
            await center.set_idle(agent, rng.choice(["break", "lunch"]))
        elif kind == "accept":
            return f"accept {agent} {call} -> {await center.accept(agent, call)}"
        elif kind == "decline":
            await center.decline(agent, call)
        elif kind == "end":
            await center.end_contact(call)
        elif kind == "wrap":
            await center.end_wrap_up(agent)
        else:
            step_s = rng.choice([0.25, 1.0, 2.5, 3.5, 10.0, 15.0, 31.0, 61.0])
            clock.advance(step_s + rng.random() / 7)
            await center.tick()
    except CenterError as exc:
        return f"{kind} {agent} {call} -> {type(exc).__name__}"
    return f"{kind} {agent} {call}"


@pytest.mark.parametrize("seed", range(16))
async def test_lua_script_behaves_exactly_like_the_core(redis_url: str, seed: int) -> None:
    """Differential test: the same random operations on both stores give the same notifications
    (with every digit of a wall-clock timestamp kept) and the same snapshots."""
    rng_a, rng_b = random.Random(seed), random.Random(seed)
    clock_a, clock_b = FakeClock(1_732_550_000.123456), FakeClock(1_732_550_000.123456)
    memory = ContactCenter(sample_config(wrap_up_s=3), MemoryCenterStore(), clock=clock_a)
    store = redis_store(redis_url, f"diff:{{{uuid.uuid4().hex}}}:")
    shared = ContactCenter(sample_config(wrap_up_s=3), store, clock=clock_b)
    rec_a, rec_b = Recorder(), Recorder()
    memory.subscribe(rec_a)
    shared.subscribe(rec_b)
    memory.subscribe(OfferLedger())
    try:
        for step in range(150):
            done_a = await _random_step(rng_a, memory, clock_a)
            done_b = await _random_step(rng_b, shared, clock_b)
            assert done_a == done_b, f"step {step}"
            assert rec_b.notes == rec_a.notes, f"step {step}: {done_a}"
            rec_a.clear()
            rec_b.clear()
            snap = await shared.snapshot()
            assert snap == await memory.snapshot(), f"step {step}: {done_a}"
            check_snapshot(snap)
            for call in CALLS[:3]:
                assert await shared.queue_status(call) == await memory.queue_status(call)
            assert await shared.store.next_deadline() == await memory.store.next_deadline()
    finally:
        await store.aclose()


async def test_two_nodes_assign_each_caller_once(redis_url: str, redis_prefix: str) -> None:
    """Two centers on one Redis: simultaneous accepts from both nodes, hang-ups, logouts."""
    config = sample_config(wrap_up_s=0)
    clock = FakeClock()
    node_a = ContactCenter(config, redis_store(redis_url, redis_prefix), clock=clock)
    node_b = ContactCenter(config, redis_store(redis_url, redis_prefix), clock=clock)
    offers: list[Notification] = []
    for node in (node_a, node_b):
        node.subscribe(lambda n: offers.append(n) if isinstance(n, ContactOffered) else None)
    try:
        await asyncio.gather(
            *(node.login(a) for node, a in zip((node_a, node_b, node_a), AGENTS, strict=True))
        )
        await asyncio.gather(*(node.set_available(a) for node in (node_a, node_b) for a in AGENTS))
        await asyncio.gather(
            *(node.enqueue(f"c{i}", "support") for i, node in enumerate([node_a, node_b] * 10))
        )
        snap = await node_a.snapshot()
        check_snapshot(snap)
        ringing = {a.call_id: a.agent_id for a in snap.agents if a.state is AgentState.OFFERED}
        assert len(ringing) == 3 and sum(len(q.waiting) for q in snap.queues) == 17
        # every ringing call: both nodes accept on behalf of the agent at once, and the
        # agent's neighbour tries to grab it too
        results = await asyncio.gather(
            *(
                node.accept(agent, call)
                for call, agent in ringing.items()
                for node in (node_a, node_b)
            ),
            *(node_b.accept(other, call) for call in ringing for other in AGENTS),
        )
        assert sum(results) == 3
        # calls end and agents take the next one, alternately on both nodes, with racing accepts
        served: dict[str, int] = {}
        for _ in range(40):
            snap = await node_b.snapshot()
            check_snapshot(snap)
            for agent in snap.agents:
                if agent.state is AgentState.CONNECTED and agent.call_id:
                    served[agent.call_id] = served.get(agent.call_id, 0) + 1
                    await random.choice((node_a, node_b)).end_contact(agent.call_id)
                elif agent.state is AgentState.WRAP_UP:
                    await asyncio.gather(
                        node_a.end_wrap_up(agent.agent_id), node_b.end_wrap_up(agent.agent_id)
                    )
                elif agent.state is AgentState.OFFERED and agent.call_id:
                    won = await asyncio.gather(
                        node_a.accept(agent.agent_id, agent.call_id),
                        node_b.accept(agent.agent_id, agent.call_id),
                    )
                    assert sorted(won) == [False, True]
        assert sorted(served) == sorted(f"c{i}" for i in range(20))
        assert set(served.values()) == {1}
        offered_calls = [n.call_id for n in offers]  # type: ignore[attr-defined]
        assert sorted(offered_calls) == sorted(
            f"c{i}" for i in range(20)
        )  # no RONA here: once each
    finally:
        await node_a.store.aclose()
        await node_b.store.aclose()


async def test_two_nodes_see_each_others_changes(redis_url: str, redis_prefix: str) -> None:
    clock = FakeClock()
    node_a = ContactCenter(sample_config(), redis_store(redis_url, redis_prefix), clock=clock)
    node_b = ContactCenter(sample_config(), redis_store(redis_url, redis_prefix), clock=clock)
    try:
        await node_a.enqueue("c1", "sales")
        await node_b.login("alice")
        await node_b.set_available("alice")
        status = await node_a.queue_status("c1")
        assert status is not None and status.state.value == "offered"
        clock.advance(15)
        await node_a.tick()  # node A fires the ring timer of an offer node B made
        await node_b.tick()  # and node B finds nothing left to fire
        snap = await node_b.snapshot()
        alice = next(a for a in snap.agents if a.agent_id == "alice")
        assert (alice.state, alice.reason) == (AgentState.IDLE, "rona")
    finally:
        await node_a.store.aclose()
        await node_b.store.aclose()


async def test_redis_down_is_a_center_store_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    store = RedisCenterStore.from_url(f"redis://127.0.0.1:{port}/0")
    center = ContactCenter(sample_config(), store)
    try:
        with pytest.raises(CenterStoreError):
            await center.enqueue("c1", "sales")
        with pytest.raises(CenterStoreError):
            await store.next_deadline()
        with pytest.raises(CenterStoreError):
            await store.save_call_state("c1", "{}")
    finally:
        await store.aclose()


async def test_store_must_be_bound_first(redis_url: str) -> None:
    store = redis_store(redis_url, "unbound:")
    try:
        with pytest.raises(CenterError):
            await store.abandon("c1", now=0.0)
    finally:
        await store.aclose()
    with pytest.raises(CenterError):
        await MemoryCenterStore().abandon("c1", now=0.0)


async def test_script_cache_flush_is_survived(redis_url: str, redis_prefix: str) -> None:
    """After a Redis restart the script cache is empty: the store reloads the script."""
    store = redis_store(redis_url, redis_prefix)
    center = ContactCenter(sample_config(), store, clock=FakeClock())
    try:
        await center.enqueue("c1", "sales")
        admin = aioredis.Redis.from_url(redis_url)
        await admin.script_flush()
        await admin.aclose()
        await center.enqueue("c2", "sales")
        status = await center.queue_status("c2")
        assert status is not None and status.position == 2
    finally:
        await store.aclose()


async def test_every_operation_after_a_redis_restart_succeeds() -> None:
    """As CI found: after Redis restarted, each idle pooled connection was stale and failed
    one operation ("Connection closed by server"), e.g. a call's saved state was lost."""
    server = RedisProcess()
    server.start()
    store = RedisCenterStore.from_url(server.url, prefix="restart:")
    center = ContactCenter(sample_config(), store, clock=FakeClock())
    try:
        # Several operations at once leave several connections in the pool.
        await asyncio.gather(*(center.enqueue(f"c{i}", "sales") for i in range(6)))
        server.kill()
        await asyncio.sleep(0.2)  # the loop sees every connection's end of stream
        server.start()
        # Each of these takes its own pooled (stale) connection; none may fail.
        results = await asyncio.gather(
            *(store.save_call_state(f"c{i}", f'{{"step": {i}}}') for i in range(6)),
            center.snapshot(),
            return_exceptions=True,
        )
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert await store.load_call_state("c5") == '{"step": 5}'
    finally:
        await store.aclose()
        server.kill()


async def test_a_redis_that_stops_answering_fails_in_bounded_time() -> None:
    """A stopped (or partitioned) Redis must not hold a caller's operation forever."""
    server = RedisProcess()
    server.start()
    store = RedisCenterStore.from_url(server.url, prefix="stopped:")
    center = ContactCenter(sample_config(), store, clock=FakeClock())
    try:
        await center.enqueue("c1", "sales")
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        async with asyncio.timeout(COMMAND_TIMEOUT_S + 5):  # fail, do not hang, if it hangs
            with pytest.raises(CenterStoreError):
                await center.enqueue("c2", "sales")
        assert time.monotonic() - started < COMMAND_TIMEOUT_S + 2
    finally:
        if server.process is not None:
            server.process.send_signal(signal.SIGCONT)
        await store.aclose()
        server.kill()
