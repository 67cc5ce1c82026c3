"""Skills-routing cost per operation, memory and Redis stores.

    .venv/bin/python bench/skills.py [--waiting 5000] [--redis redis://127.0.0.1:6379/0]

Worst case for an agent becoming available: `--waiting` contacts queued ahead that need
a skill nobody has (the agent scans past all of them), then one it can take. Best case:
the same queue without requirements (one head). Also enqueue of a contact with
requirements while 300 agents are available and none meets them (it scans them all).
Each figure is the median of repeated runs of one operation through `ContactCenter`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from dipflow.center import CenterConfig, ContactCenter, ContactOffered, MemoryCenterStore
from dipflow.center.redis_store import RedisCenterStore
from dipflow.center.skills import Condition, SkillRequirement

RARE = SkillRequirement(skill="rare", condition=Condition.EQ, value="true")
TECH = SkillRequirement(skill="tech", condition=Condition.GE, value="5")


def config(agents: int) -> CenterConfig:
    return CenterConfig.model_validate(
        {
            "queues": [{"name": "q", "teams": ["t"]}],
            "agents": [
                {"agent_id": f"a{i}", "name": f"a{i}", "teams": ["t"], "skills": {"tech": i % 5}}
                for i in range(agents)
            ],
            "skills": [{"name": "tech"}, {"name": "rare", "type": "boolean"}],
            "wrap_up_s": 0,
        }
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


async def agent_takes_one(center: ContactCenter, waiting: int, skilled: bool) -> float:
    """ms for set_available when `waiting` contacts the agent cannot serve are ahead."""
    for i in range(waiting):
        await center.enqueue(f"w{i}", "q", skills=[RARE] if skilled else [])
    await center.enqueue("mine", "q")
    await center.login("a0")
    offered: list[str] = []
    center.subscribe(lambda n: offered.append(n.call_id) if isinstance(n, ContactOffered) else None)
    samples = []
    for _ in range(20):
        start = time.perf_counter()
        await center.set_available("a0")
        samples.append(time.perf_counter() - start)
        await center.decline("a0", offered[-1])  # back to its place; a0 idle ("rona")
    return statistics.median(samples) * 1000


async def enqueue_scans_agents(center: ContactCenter, agents: int) -> float:
    for i in range(agents):
        await center.login(f"a{i}")
        await center.set_available(f"a{i}")
    samples = []
    for i in range(50):
        start = time.perf_counter()
        await center.enqueue(f"c{i}", "q", skills=[RARE])
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


async def run(store_kind: str, url: str, waiting: int) -> dict[str, float]:
    results: dict[str, float] = {}
    for name, job in (
        ("set_available, no requirements ahead", lambda c: agent_takes_one(c, waiting, False)),
        ("set_available, all ahead need a skill", lambda c: agent_takes_one(c, waiting, True)),
        ("enqueue, 300 available, none qualifies", lambda c: enqueue_scans_agents(c, 300)),
    ):
        store = (
            MemoryCenterStore()
            if store_kind == "memory"
            else RedisCenterStore.from_url(url, prefix=f"bench:{{{uuid.uuid4().hex}}}:")
        )
        center = ContactCenter(config(300), store, clock=Clock())
        try:
            results[name] = await job(center)
        finally:
            await store.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--waiting", type=int, default=5000)
    parser.add_argument("--redis", default="")
    args = parser.parse_args()
    kinds = ["memory"] + (["redis"] if args.redis else [])
    for kind in kinds:
        for name, ms in asyncio.run(run(kind, args.redis, args.waiting)).items():
            print(f"{kind:6} {name:42} {ms:8.3f} ms")


if __name__ == "__main__":
    main()
