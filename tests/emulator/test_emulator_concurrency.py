"""Many clients at once: every answer correct, none lost, timing header present."""

from __future__ import annotations

import asyncio
import time

import httpx

from dipflow.emulator.demo_data import DEMO_CALLERS
from dipflow.emulator.testing import RunningEmulator


async def test_concurrent_lookups_all_answer_correctly(crm: RunningEmulator) -> None:
    token = crm.token()
    headers = {"Authorization": f"Bearer {token}"}

    async def lookup(client: httpx.AsyncClient, ani: str) -> tuple[str, list[str], float, float]:
        started = time.perf_counter()
        response = await client.get(
            "contacts", params={"$select": "fullname", "$filter": f"new_phonee164 eq '{ani}'"}
        )
        response.raise_for_status()
        timing = response.headers["server-timing"]
        assert timing.startswith("app;dur=")
        took_ms = (time.perf_counter() - started) * 1000
        names = sorted(r["fullname"] for r in response.json()["value"])
        return ani, names, float(timing[8:]), took_ms

    async with httpx.AsyncClient(base_url=crm.api_url, headers=headers, timeout=20) as client:
        results = await asyncio.gather(
            *(lookup(client, caller.ani) for caller in DEMO_CALLERS for _ in range(15))
        )
    assert len(results) == 15 * len(DEMO_CALLERS)
    by_ani = {c.ani: c for c in DEMO_CALLERS}
    for ani, names, app_ms, took_ms in results:
        caller = by_ani[ani]
        if caller.customer_type == "account":
            assert names == []  # an account's number is not a contact's
            continue
        assert len(names) == caller.matches
        if caller.expected_fullname is not None:
            assert names == [caller.expected_fullname]
        # The emulator's own time, within the round trip the client saw.
        assert 0 < app_ms <= took_ms
