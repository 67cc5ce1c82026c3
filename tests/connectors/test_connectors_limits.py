"""Microsoft's service protection limits, from the client's side (issue 10).

"Service protection API limits" (Microsoft Learn): per user and web server, 6,000
requests and 1,200 s of execution time per 5 minutes, and 52 concurrent requests.
"Send parallel requests": disable the server-affinity cookie so parallel requests
spread over every web server.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from dipflow.connectors import Connectors
from dipflow.connectors.config import ConnectorConfig
from dipflow.emulator.testing import RunningEmulator, running_emulator
from dipflow.engine.commands import HttpRequest
from dipflow.engine.events import HttpOutcome
from tests.connectors.fake_crm import ENV, FakeCrm, dataverse_config


def _lookup(n: int, *, timeout_s: float = 10.0) -> HttpRequest:
    return HttpRequest(
        request_id=f"dip-{n}",
        connector="dynamics",
        method="GET",
        path="contacts",
        query={"$select": "fullname", "$top": "2"},
        timeout_s=timeout_s,
    )


async def test_concurrency_cap_holds_under_200_simultaneous_dips() -> None:
    """200 calls dip at the same moment; the server never sees more than the cap."""
    in_flight = 0
    peak = 0

    async def server(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        return httpx.Response(200, json={"value": []})

    config = dataverse_config(auth={"type": "none"}, max_concurrent=8)
    async with Connectors([config], environ=ENV, transport=httpx.MockTransport(server)) as c:
        done = await asyncio.gather(*(c.execute(_lookup(n)) for n in range(200)))
        stats = c.stats()["dynamics"]
    assert all(d.outcome is HttpOutcome.SUCCESS for d in done)
    assert peak == 8  # reached, never exceeded
    assert stats["peak_in_flight"] == 8 and stats["in_flight"] == 0


async def test_waiting_for_a_slot_spends_the_callers_own_budget() -> None:
    """A surge beyond the cap takes the timeout output; it never piles onto Dataverse."""

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.3)
        return httpx.Response(200, json={"value": []})

    config = dataverse_config(auth={"type": "none"}, max_concurrent=2)
    async with Connectors([config], environ=ENV, transport=httpx.MockTransport(slow)) as c:
        done = await asyncio.gather(*(c.execute(_lookup(n, timeout_s=0.5)) for n in range(6)))
    outcomes = [d.outcome for d in done]
    assert outcomes.count(HttpOutcome.SUCCESS) == 2
    assert outcomes.count(HttpOutcome.TIMEOUT) == 4


def test_the_default_cap_is_well_under_52() -> None:
    assert ConnectorConfig.model_fields["max_concurrent"].default <= 26


async def test_persistent_401_fetches_at_most_one_token_per_breaker_period() -> None:
    """Application user disabled: Entra still issues tokens, Dataverse answers 401 to
    every one. Without the breaker every call would fetch a token and send twice."""
    crm = FakeCrm()
    crm.default = lambda request: httpx.Response(401)
    open_s = 0.2
    config = dataverse_config(breaker={"failure_threshold": 5, "open_s": open_s})
    async with Connectors([config], environ=ENV, transport=httpx.MockTransport(crm)) as c:
        started = time.monotonic()
        outcomes: list[HttpOutcome] = []
        while time.monotonic() - started < 1.0:  # a steady stream of calls for 1 s
            outcomes.append((await c.execute(_lookup(len(outcomes), timeout_s=1.0))).outcome)
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - started
        stats = c.stats()["dynamics"]
    periods = elapsed / open_s
    assert len(outcomes) > 40 and set(outcomes) == {HttpOutcome.ERROR}
    # the first fetch, then at most one per breaker period (the half-open probe's)
    assert crm.tokens_issued <= periods + 2
    assert len(crm.api_requests) <= 2 * (periods + 2)
    assert stats["short_circuited"] >= len(outcomes) - 2 * (periods + 2)


async def test_a_401_followed_by_success_does_not_open_the_breaker() -> None:
    """A token revoked early is fixed by one fresh token: no harm to later calls."""
    crm = FakeCrm()
    crm.script = [httpx.Response(401)]
    async with Connectors(
        [dataverse_config()], environ=ENV, transport=httpx.MockTransport(crm)
    ) as c:
        first = await c.execute(_lookup(1))
        second = await c.execute(_lookup(2))
    assert first.outcome is second.outcome is HttpOutcome.SUCCESS
    assert crm.tokens_issued == 2


def _emulator_connector(emu: RunningEmulator) -> ConnectorConfig:
    return ConnectorConfig.model_validate(
        {
            "name": "dynamics",
            "kind": "dataverse",
            "base_url": emu.base_url,
            "auth": {
                "type": "oauth2_client_credentials",
                "token_url": emu.token_url,
                "client_id": emu.client_id,
                "client_secret_env": "CRM_SECRET",
                "scope": emu.scope,
            },
        }
    )


async def test_no_affinity_cookie_is_sent_back() -> None:
    """The emulator sets `ARRAffinity` as Dataverse's load balancer does; the connector
    never returns it, while a default HTTP client would (the control)."""
    with running_emulator() as emu:
        env = {"CRM_SECRET": emu.client_secret}
        async with Connectors([_emulator_connector(emu)], environ=env) as c:
            for n in range(5):
                assert (await c.execute(_lookup(n))).outcome is HttpOutcome.SUCCESS
        assert emu.stats()["affinity_requests"] == 0
        headers = {"Authorization": f"Bearer {emu.token()}"}
        async with httpx.AsyncClient(base_url=emu.api_url, headers=headers) as plain:
            first = await plain.get("contacts", params={"$top": "1"})
            assert "ARRAffinity=" in first.headers["set-cookie"]
            await plain.get("contacts", params={"$top": "1"})
        assert emu.stats()["affinity_requests"] == 1
