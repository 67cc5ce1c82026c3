"""Property tests: whatever the server does, `execute` answers and retries only where safe."""

from __future__ import annotations

import asyncio

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dipflow.connectors import Connectors
from dipflow.engine.commands import HttpRequest
from dipflow.engine.events import HttpCompleted, HttpOutcome
from tests.connectors.fake_crm import ENV, FakeCrm, dataverse_config

STEPS = st.sampled_from(
    [
        "200",
        "204",
        "400",
        "401",
        "404",
        "429",
        "429-late",
        "500",
        "502",
        "503",
        "504",
        "connect",
        "read",
        "proto",
        "text",
    ]
)


def respond(step: str, request: httpx.Request) -> httpx.Response:
    if step == "connect":
        raise httpx.ConnectError("refused", request=request)
    if step == "read":
        raise httpx.ReadError("reset", request=request)
    if step == "proto":
        raise httpx.RemoteProtocolError("garbage", request=request)
    if step == "text":
        return httpx.Response(200, text="<html>")
    if step == "429":
        return httpx.Response(429, headers={"Retry-After": "0"})
    if step == "429-late":
        return httpx.Response(429, headers={"Retry-After": "3600"})
    return httpx.Response(int(step), json={"value": []} if step == "200" else None)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(STEPS, max_size=8),
    method=st.sampled_from(["GET", "POST", "PATCH", "DELETE"]),
    retries=st.integers(0, 3),
)
def test_execute_always_answers_and_retries_only_when_safe(
    steps: list[str], method: str, retries: int
) -> None:
    crm = FakeCrm()
    crm.script = [lambda r, s=s: respond(s, r) for s in steps]
    request = HttpRequest(
        request_id="p",
        connector="dynamics",
        method=method,
        path="contacts",
        body={"a": 1} if method in ("POST", "PATCH") else None,
        retries=retries,
        timeout_s=2.0,
    )

    async def run() -> HttpCompleted:
        config = dataverse_config(breaker={"enabled": False})
        async with Connectors([config], environ=ENV, transport=httpx.MockTransport(crm)) as c:
            return await c.execute(request)

    done = asyncio.run(run())
    sent = len(crm.api_requests)
    # The outcome is the last answer's: success exactly for a 2xx (JSON, empty or text;
    # once the script is spent, the fake CRM answers 200 with an empty result).
    last = steps[sent - 1] if sent <= len(steps) else "200"
    assert (done.outcome is HttpOutcome.SUCCESS) == (last in ("200", "204", "text")), (last, done)
    # At most the retries plus one extra attempt after a 401 token refresh.
    assert 1 <= sent <= retries + 2
    assert done.attempts == sent
    if method in ("POST", "PATCH"):
        # A non-idempotent request is repeated only after it never reached the server
        # (connect error) or was refused for a stale token (401).
        for step in steps[: sent - 1]:
            assert step in ("connect", "401")
    if done.outcome is HttpOutcome.SUCCESS:
        assert done.status in (200, 204)
