"""The connector registry over httpx.MockTransport: headers, tokens, retries, budget, breaker."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs

import httpx
import pytest

import dipflow.errors
from dipflow.connectors import ConfigError, ConnectorConfig, ConnectorError, Connectors
from dipflow.engine.commands import HttpRequest
from dipflow.engine.events import HttpOutcome
from tests.connectors.fake_crm import ENV, ORG, SECRET, FakeCrm, dataverse_config


def get(path: str = "contacts", **kw: object) -> HttpRequest:
    fields: dict[str, object] = {"request_id": "r1", "connector": "dynamics", "method": "GET"}
    fields.update(path=path, **kw)
    return HttpRequest(**fields)  # type: ignore[arg-type]


def registry(crm: FakeCrm, **overrides: object) -> Connectors:
    return Connectors(
        [dataverse_config(**overrides)], environ=ENV, transport=httpx.MockTransport(crm)
    )


async def test_dataverse_request_carries_odata_headers_and_bearer_token(crm: FakeCrm) -> None:
    async with registry(crm) as connectors:
        done = await connectors.execute(get("contacts?$select=fullname"))
    assert done.outcome is HttpOutcome.SUCCESS
    assert done.status == 200 and done.body["value"] == []
    sent = crm.api_requests[0]
    assert str(sent.url) == f"{ORG}/api/data/v9.2/contacts?$select=fullname"
    assert sent.headers["OData-Version"] == "4.0"
    assert sent.headers["OData-MaxVersion"] == "4.0"
    assert sent.headers["Accept"] == "application/json"
    assert "Prefer" not in sent.headers  # the bundled flow reads no annotation
    assert sent.headers["If-None-Match"] == "null"
    assert sent.headers["Authorization"] == "Bearer token-1"
    form = crm.token_forms[0]
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == [f"{ORG}/.default"]


async def test_query_parameters_are_encoded_not_concatenated(crm: FakeCrm) -> None:
    hostile = "telephone1 eq '+1 (415)' or x eq 'a&$top=1000&b=#c'"
    async with registry(crm) as connectors:
        await connectors.execute(get("contacts", query={"$filter": hostile, "$top": "2"}))
    sent = crm.api_requests[0]
    assert parse_qs(sent.url.query.decode()) == {"$filter": [hostile], "$top": ["2"]}


async def test_query_is_appended_to_a_path_that_has_one(crm: FakeCrm) -> None:
    async with registry(crm) as connectors:
        await connectors.execute(
            get("contacts?$filter=telephone1 eq '+1 415'", query={"$top": "2", "x": "a b+c"})
        )
    raw = crm.api_requests[0].url.query.decode()
    assert raw.startswith("$filter=telephone1%20eq%20'+1%20415'&")
    assert raw.endswith("&%24top=2&x=a+b%2Bc")


async def test_two_hundred_calls_fetch_one_token(crm: FakeCrm) -> None:
    async with registry(crm) as connectors:
        results = await asyncio.gather(*(connectors.execute(get()) for _ in range(200)))
        stats = connectors.stats()["dynamics"]
    assert all(r.outcome is HttpOutcome.SUCCESS for r in results)
    assert crm.tokens_issued == 1
    assert stats["token_fetches"] == 1
    assert stats["requests"] == 200


async def test_token_is_refreshed_before_it_expires() -> None:
    crm = FakeCrm(token_lifetime_s=1.0)
    async with registry(crm) as connectors:
        first = await connectors.execute(get())
        await asyncio.sleep(0.6)  # past half-life: the next call starts a background refresh
        second = await connectors.execute(get())
        await asyncio.sleep(0.05)
        third = await connectors.execute(get())
    assert [r.outcome for r in (first, second, third)] == [HttpOutcome.SUCCESS] * 3
    tokens = [r.headers["Authorization"] for r in crm.api_requests]
    assert tokens == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]
    assert crm.tokens_issued == 2
    assert not crm.seen_expired_token


async def test_401_drops_the_token_and_retries_once(crm: FakeCrm) -> None:
    crm.script = [httpx.Response(401, json={"error": {"code": "0x80040220", "message": "x"}})]
    async with registry(crm) as connectors:
        done = await connectors.execute(get())
    assert done.outcome is HttpOutcome.SUCCESS
    assert done.attempts == 2
    assert crm.tokens_issued == 2
    assert [r.headers["Authorization"] for r in crm.api_requests] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


async def test_a_second_401_is_the_error_output_not_a_loop(crm: FakeCrm) -> None:
    crm.default = lambda r: httpx.Response(
        401, json={"error": {"code": "0x80072560", "message": "The user is not a member"}}
    )
    async with registry(crm) as connectors:
        done = await connectors.execute(get(retries=3))
    assert done.outcome is HttpOutcome.ERROR
    assert done.status == 401
    assert len(crm.api_requests) == 2
    assert "token-" not in (done.error or "")
    assert "The user is not a member" in (done.error or "")


async def test_get_is_retried_on_503(crm: FakeCrm) -> None:
    crm.script = [httpx.Response(503), httpx.Response(502)]
    async with registry(crm) as connectors:
        done = await connectors.execute(get(retries=2))
        assert connectors.stats()["dynamics"]["retries"] == 2
    assert done.outcome is HttpOutcome.SUCCESS
    assert done.attempts == 3


async def test_retries_are_bounded_by_the_activity(crm: FakeCrm) -> None:
    crm.default = lambda r: httpx.Response(504)
    async with registry(crm) as connectors:
        done = await connectors.execute(get(retries=1))
    assert done.outcome is HttpOutcome.ERROR
    assert done.status == 504
    assert done.attempts == 2
    assert len(crm.api_requests) == 2


async def test_500_is_not_retried(crm: FakeCrm) -> None:
    crm.default = lambda r: httpx.Response(500, json={"error": {"code": "0x0", "message": "boom"}})
    async with registry(crm) as connectors:
        done = await connectors.execute(get(retries=3))
    assert done.outcome is HttpOutcome.ERROR and done.status == 500
    assert len(crm.api_requests) == 1
    assert done.error == "HTTP 500 Internal Server Error: boom"


async def test_post_is_not_retried_after_the_server_saw_it(crm: FakeCrm) -> None:
    crm.default = lambda r: httpx.Response(503)
    request = HttpRequest(
        request_id="p", connector="dynamics", method="POST", path="incidents", body={"t": 1}
    )
    request = HttpRequest(**{**_fields(request), "retries": 3})
    async with registry(crm) as connectors:
        done = await connectors.execute(request)
    assert done.outcome is HttpOutcome.ERROR and done.status == 503
    assert len(crm.api_requests) == 1


async def test_post_is_retried_when_the_connection_never_opened(crm: FakeCrm) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    crm.script = [refuse]
    request = HttpRequest(
        request_id="p",
        connector="dynamics",
        method="POST",
        path="incidents",
        body={"t": 1},
        retries=1,
    )
    async with registry(crm) as connectors:
        done = await connectors.execute(request)
    assert done.outcome is HttpOutcome.SUCCESS
    assert done.attempts == 2
    assert crm.api_requests[-1].headers["content-type"] == "application/json"


async def test_retry_after_beyond_the_budget_takes_the_error_output_at_once(
    crm: FakeCrm,
) -> None:
    crm.default = lambda r: httpx.Response(
        429, headers={"Retry-After": "30"}, json={"error": {"code": "0x80072322", "message": "x"}}
    )
    async with registry(crm) as connectors:
        started = time.perf_counter()
        done = await connectors.execute(get(timeout_s=2.0, retries=3))
        elapsed = time.perf_counter() - started
        follow_up = await connectors.execute(get(timeout_s=2.0))
    assert done.outcome is HttpOutcome.ERROR and done.status == 429
    assert elapsed < 0.5
    assert "Retry-After 30s exceeds the remaining budget" in (done.error or "")
    # The server asked for 30 s of quiet: the next caller fails fast without a request.
    assert follow_up.outcome is HttpOutcome.ERROR
    assert "circuit open" in (follow_up.error or "")
    assert len(crm.api_requests) == 1


async def test_short_retry_after_is_honoured_within_the_budget(crm: FakeCrm) -> None:
    crm.script = [httpx.Response(429, headers={"Retry-After": "0"})]
    async with registry(crm) as connectors:
        done = await connectors.execute(get(retries=1))
    assert done.outcome is HttpOutcome.SUCCESS and done.attempts == 2


async def test_budget_covers_a_hanging_server() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        return httpx.Response(200)

    config = dataverse_config(auth={"type": "none"})
    async with Connectors([config], environ={}, transport=httpx.MockTransport(hang)) as c:
        started = time.perf_counter()
        done = await c.execute(get(timeout_s=0.2, retries=3))
        elapsed = time.perf_counter() - started
    assert done.outcome is HttpOutcome.TIMEOUT
    assert 0.15 < elapsed < 0.6
    assert done.error and "0.2" in done.error


async def test_breaker_opens_fails_fast_and_recovers(crm: FakeCrm) -> None:
    crm.default = lambda r: httpx.Response(503)
    breaker = {"failure_threshold": 3, "open_s": 0.2}
    async with registry(crm, breaker=breaker) as connectors:
        for _ in range(3):
            await connectors.execute(get())
        assert connectors.stats()["dynamics"]["breaker"] == "open"
        started = time.perf_counter()
        fast = await connectors.execute(get(timeout_s=5.0))
        assert time.perf_counter() - started < 0.01
        assert fast.outcome is HttpOutcome.ERROR and "circuit open" in (fast.error or "")
        assert len(crm.api_requests) == 3
        await asyncio.sleep(0.25)
        crm.default = lambda r: httpx.Response(200, json={"value": []})
        probe = await connectors.execute(get())
        stats = connectors.stats()["dynamics"]
    assert probe.outcome is HttpOutcome.SUCCESS
    assert stats["breaker"] == "closed"
    assert stats["short_circuited"] == 1


async def test_refused_credentials_are_reported_without_the_secret(crm: FakeCrm) -> None:
    crm.refuse_tokens = True
    async with registry(crm) as connectors:
        done = await connectors.execute(get())
    assert done.outcome is HttpOutcome.ERROR
    assert "invalid_client" in (done.error or "")
    assert SECRET not in repr(done)
    assert crm.api_requests == []


async def test_missing_secret_fails_at_start_naming_the_variable() -> None:
    # The server's start-up catches the package's one configuration error.
    with pytest.raises(dipflow.errors.ConfigError, match="DYNAMICS_CLIENT_SECRET") as caught:
        Connectors([dataverse_config()], environ={})
    assert isinstance(caught.value, ConfigError)
    assert isinstance(caught.value, ConnectorError)


async def test_basic_and_api_key_headers(tmp_path: object) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    configs = [
        ConnectorConfig.model_validate(
            {
                "name": "basic",
                "base_url": "https://api.example.test/v1",
                "auth": {"type": "basic", "username": "ivr", "password_env": "PW"},
            }
        ),
        ConnectorConfig.model_validate(
            {
                "name": "keyed",
                "base_url": "https://api.example.test/v1/",
                "auth": {"type": "api_key", "header": "X-Api-Key", "key_env": "KEY"},
            }
        ),
    ]
    env = {"PW": "pa:ss", "KEY": "k-123"}
    async with Connectors(configs, environ=env, transport=httpx.MockTransport(record)) as c:
        a = await c.execute(HttpRequest(request_id="a", connector="basic", method="GET", path="x"))
        b = await c.execute(HttpRequest(request_id="b", connector="keyed", method="GET", path="/y"))
    assert a.body == "ok" and b.outcome is HttpOutcome.SUCCESS
    assert seen[0].headers["Authorization"] == "Basic aXZyOnBhOnNz"
    assert str(seen[0].url) == "https://api.example.test/v1/x"
    assert seen[1].headers["X-Api-Key"] == "k-123"
    assert str(seen[1].url) == "https://api.example.test/v1/y"
    assert "OData-Version" not in seen[0].headers


async def test_credentials_never_go_to_another_origin(crm: FakeCrm) -> None:
    async with registry(crm) as connectors:
        done = await connectors.execute(
            HttpRequest(
                request_id="x", connector="dynamics", method="GET", url="https://evil.test/"
            )
        )
    assert done.outcome is HttpOutcome.ERROR
    assert "outside" in (done.error or "")
    assert crm.api_requests == [] and crm.tokens_issued == 0


async def test_relative_url_is_a_path_below_the_connector(crm: FakeCrm) -> None:
    async with registry(crm) as connectors:
        done = await connectors.execute(
            HttpRequest(request_id="x", connector="dynamics", method="GET", url="accounts")
        )
    assert done.outcome is HttpOutcome.SUCCESS
    assert str(crm.api_requests[0].url) == f"{ORG}/api/data/v9.2/accounts"


async def test_unknown_connector_and_direct_requests(crm: FakeCrm) -> None:
    async with registry(crm) as connectors:
        unknown = await connectors.execute(
            HttpRequest(request_id="u", connector="nope", method="GET", path="x")
        )
        direct = await connectors.execute(
            HttpRequest(request_id="d", connector=None, method="GET", url=f"{ORG}/status")
        )
        nothing = await connectors.execute(
            HttpRequest(request_id="n", connector=None, method="GET")
        )
    assert unknown.outcome is HttpOutcome.ERROR and "unknown connector" in (unknown.error or "")
    assert direct.outcome is HttpOutcome.SUCCESS
    assert "authorization" not in crm.api_requests[0].headers
    assert nothing.outcome is HttpOutcome.ERROR


async def test_never_raises_whatever_the_transport_does(crm: FakeCrm) -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("bug in a transport")

    crm.script = [explode]
    async with registry(crm) as connectors:
        done = await connectors.execute(get())
    assert done.outcome is HttpOutcome.ERROR
    assert done.error == "internal error (RuntimeError)"


async def test_non_json_and_malformed_bodies_are_text(crm: FakeCrm) -> None:
    crm.script = [
        httpx.Response(200, headers={"content-type": "application/json"}, content=b'{"value": ['),
    ]
    async with registry(crm) as connectors:
        done = await connectors.execute(get())
    assert done.outcome is HttpOutcome.SUCCESS
    assert done.body == '{"value": ['


def _fields(request: HttpRequest) -> dict[str, object]:
    return {name: getattr(request, name) for name in request.__slots__}  # type: ignore[attr-defined]
