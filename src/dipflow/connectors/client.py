"""One connector: a pooled HTTP client, credentials, retries, breaker. Layer 3 (connectors).

`ConnectorClient.execute(HttpRequest)` always answers with an `HttpCompleted`; it
never raises. The rules, in order:

- The request's `timeout_s` is the whole budget: token fetch, every attempt and
  every backoff fit inside it; each attempt gets what is left.
- Retries (at most `request.retries`) happen only where repeating is safe:
  connect errors (the request never left) for every method; 502/503/504, 429
  with Retry-After and broken connections only for idempotent methods
  (RFC 9110 section 9.2.2). A Retry-After longer than the remaining budget takes
  the error output at once instead of waiting for a timeout.
- A 401 drops the token, fetches a new one and retries once (a rotated key,
  a token revoked early), outside the retry count.
- A circuit breaker per connector makes callers fail in microseconds during an
  outage instead of each waiting out its budget.

Those decisions are pure functions of `dipflow.connectors.policy` (tested as a table);
this module does the I/O they call for.
"""

from __future__ import annotations

import asyncio
import email.utils
import http.cookiejar
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, assert_never

import httpx

from dipflow.connectors import policy
from dipflow.connectors.auth import Authenticator, build_authenticator
from dipflow.connectors.breaker import CircuitBreaker
from dipflow.connectors.config import ConnectorConfig, OAuth2ClientCredentials
from dipflow.connectors.errors import (
    CircuitOpen,
    ConnectorError,
    CrmRequestError,
    CrmTimeout,
    CrmUnavailable,
)
from dipflow.connectors.policy import Admission, Decision, Failure, Health, Next
from dipflow.engine.commands import HttpRequest
from dipflow.engine.events import HttpCompleted, HttpOutcome

log = logging.getLogger(__name__)

# Dataverse Web API request headers
# (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors).
# `If-None-Match: null` stops cached results for expanded collections
# (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/join-tables).
# No `Prefer: odata.include-annotations`: the connector asks only for the annotations its
# configuration names (`annotations:`), since every one costs the server lookups.
DATAVERSE_HEADERS = {
    "OData-Version": "4.0",
    "OData-MaxVersion": "4.0",
    "Accept": "application/json",
    "If-None-Match": "null",
}


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Keep no cookie. Dataverse's `ARRAffinity` cookie pins a client to one web server;
    Microsoft's "Send parallel requests" (Server affinity) recommends disabling cookies for
    parallel clients, so requests spread over every server, each with its own limits."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        del cookie, request
        return False


_HIDDEN_RESPONSE_HEADERS = frozenset({"set-cookie"})


@dataclass(slots=True)
class ConnectorStats:
    requests: int = 0
    successes: int = 0
    errors: int = 0
    timeouts: int = 0
    attempts: int = 0
    retries: int = 0
    auth_retries: int = 0
    short_circuited: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    """Most requests in flight at once (bounded by `max_concurrent`)."""
    last_error: str | None = None
    status_counts: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Progress:
    attempts: int = 0


def _failure_kind(exc: httpx.HTTPError) -> Failure:
    # ConnectTimeout is a TimeoutException too: the request never left, so it is a
    # connect failure (retryable for every method), not a timeout of the exchange.
    if isinstance(exc, httpx.ConnectTimeout):
        return Failure.CONNECT_TIMEOUT
    if isinstance(exc, httpx.ConnectError):
        return Failure.CONNECT_ERROR
    if isinstance(exc, httpx.TimeoutException):
        return Failure.TIMEOUT
    return Failure.BROKEN


_FAILURE_TEXT = {
    Failure.CONNECT_TIMEOUT: "connect timed out",
    Failure.CONNECT_ERROR: "connection failed",
    Failure.TIMEOUT: "no answer within the budget",
    Failure.BROKEN: "connection broken",
}


@dataclass(frozen=True, slots=True)
class _TransportFailure:
    kind: Failure
    exc: httpx.HTTPError

    def error(self) -> ConnectorError:
        """The connector error that reports it."""
        text = f"{_FAILURE_TEXT[self.kind]} ({type(self.exc).__name__})"
        error = CrmTimeout(text) if self.kind is Failure.TIMEOUT else CrmUnavailable(text)
        error.__cause__ = self.exc
        return error


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date (RFC 9110 section 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    wall = time.time() if now is None else now
    return max(0.0, when.timestamp() - wall)


def _odata_error_message(body: Any) -> str:
    """The `error.message` of an OData error body, short."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = str(body["error"].get("message", ""))
        return message.splitlines()[0][:200] if message else ""
    return ""


def _parse_body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            return response.text
    return response.text


def _may_use_tls(config: ConnectorConfig, *, any_url: bool) -> bool:
    """Can this client ever open a TLS connection? A connector's client reaches only its
    base URL's origin (other origins are refused, redirects are not followed) and, for
    client credentials, its token URL; the direct client (`any_url`) reaches any URL."""
    if any_url:
        return True
    urls = [config.api_root]
    if isinstance(config.auth, OAuth2ClientCredentials):
        urls.append(config.auth.token_url)
    return any(not url.lower().startswith("http://") for url in urls)


class ConnectorClient:
    def __init__(
        self,
        config: ConnectorConfig,
        *,
        environ: Mapping[str, str],
        transport: httpx.AsyncBaseTransport | None = None,
        any_url: bool = False,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self._any_url = any_url
        self._rand = rand
        pool = config.pool
        self._http = httpx.AsyncClient(
            transport=transport,
            limits=httpx.Limits(
                max_connections=pool.max_connections,
                max_keepalive_connections=pool.max_keepalive_connections,
                keepalive_expiry=pool.keepalive_expiry_s,
            ),
            timeout=httpx.Timeout(config.timeouts.default_request_s),
            # No TLS context for a client that never speaks TLS: loading the CA bundle
            # costs 70 ms of processor time, a tenth of a small `dipflow call --fast`.
            verify=config.verify_tls if _may_use_tls(config, any_url=any_url) else False,
            follow_redirects=False,
            cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
        )
        # One connector per node: every call on this node shares these slots.
        self._slots = asyncio.Semaphore(config.max_concurrent)
        self.auth: Authenticator = build_authenticator(
            config, environ=environ, http=self._http, transport=transport
        )
        self.breaker = CircuitBreaker(
            failure_threshold=config.breaker.failure_threshold,
            open_s=config.breaker.open_s,
            enabled=config.breaker.enabled,
        )
        self._backoff = policy.Backoff(
            base_s=config.retry.backoff_s, cap_s=config.retry.max_backoff_s
        )
        self.stats = ConnectorStats()
        self._base_headers = dict(DATAVERSE_HEADERS) if config.kind == "dataverse" else {}
        if config.kind == "dataverse" and config.annotations:
            wanted = ",".join(config.annotations)
            self._base_headers["Prefer"] = f'odata.include-annotations="{wanted}"'
        self._base_headers.update(config.headers)

    # -- request building -------------------------------------------------------------

    def _url(self, request: HttpRequest) -> httpx.URL:
        if request.url and "://" in request.url:
            url = httpx.URL(request.url)
            if url.scheme not in ("http", "https"):
                raise CrmRequestError(f"unsupported URL scheme {url.scheme!r}")
            if not self._any_url:
                base = httpx.URL(self.config.api_root)
                # Never send this connector's credentials to another origin.
                if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
                    raise CrmRequestError("URL is outside the connector's base URL")
        else:
            # A relative `url` is read as a path below the connector's base.
            path = request.path if request.path is not None else (request.url or "")
            url = httpx.URL(self.config.api_root + path.lstrip("/"))
        if request.query:
            # Encoded by httpx. When the path already carries a query string (Webex-style
            # `contacts?$filter=...`), append rather than merge: merging would re-encode the
            # path's part and turn its spaces into "+", indistinguishable from a literal "+".
            extra = str(httpx.QueryParams(request.query))
            raw = url.query.decode("ascii")
            url = url.copy_with(query=(f"{raw}&{extra}" if raw else extra).encode("ascii"))
        return url

    @staticmethod
    def _content(request: HttpRequest) -> dict[str, Any]:
        body = request.body
        if body is None or request.method.upper() in ("GET", "HEAD"):
            return {}
        if isinstance(body, bytes):
            return {"content": body}
        if isinstance(body, str):
            return {"content": body.encode("utf-8")}
        if "x-www-form-urlencoded" in request.content_type and isinstance(body, Mapping):
            return {"data": {str(k): str(v) for k, v in body.items()}}
        return {"json": body}

    # -- execution --------------------------------------------------------------------

    async def execute(self, request: HttpRequest) -> HttpCompleted:
        """Carry out `request`; never raises."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        budget = (
            request.timeout_s if request.timeout_s > 0 else self.config.timeouts.default_request_s
        )
        progress = _Progress()
        self.stats.requests += 1

        def done(**kw: Any) -> HttpCompleted:
            return HttpCompleted(
                request_id=request.request_id,
                elapsed_ms=(loop.time() - started) * 1000.0,
                attempts=max(1, progress.attempts),
                **kw,
            )

        try:
            async with asyncio.timeout(budget):
                # Waiting for a slot spends the request's own budget: under a surge the
                # caller takes the timeout output rather than a 429 from Dataverse.
                async with self._slots:
                    self.stats.in_flight += 1
                    self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.stats.in_flight)
                    try:
                        response, reason = await self._attempts(request, started + budget, progress)
                    finally:
                        self.stats.in_flight -= 1
        except TimeoutError:
            self.breaker.record_failure()
            return self._failed(done, CrmTimeout(f"no answer within {budget:g}s"))
        except ConnectorError as exc:
            return self._failed(done, exc)
        except Exception as exc:  # the engine must get an answer whatever happens
            log.exception("connector %s: unexpected failure", self.config.name)
            return self._failed(done, ConnectorError(f"internal error ({type(exc).__name__})"))
        body = _parse_body(response)
        status = response.status_code
        self.stats.status_counts[status] = self.stats.status_counts.get(status, 0) + 1
        headers = {
            k: v for k, v in response.headers.items() if k.lower() not in _HIDDEN_RESPONSE_HEADERS
        }
        if 200 <= status < 300:
            self.stats.successes += 1
            return done(outcome=HttpOutcome.SUCCESS, status=status, body=body, headers=headers)
        detail = _odata_error_message(body)
        error = reason or f"HTTP {status} {response.reason_phrase}".rstrip()
        if detail:
            error = f"{error}: {detail}"
        self.stats.errors += 1
        self.stats.last_error = error
        return done(
            outcome=HttpOutcome.ERROR, status=status, body=body, headers=headers, error=error
        )

    def _failed(self, done: Callable[..., HttpCompleted], exc: ConnectorError) -> HttpCompleted:
        outcome = HttpOutcome.TIMEOUT if isinstance(exc, CrmTimeout) else HttpOutcome.ERROR
        if outcome is HttpOutcome.TIMEOUT:
            self.stats.timeouts += 1
        else:
            self.stats.errors += 1
        if isinstance(exc, CircuitOpen):
            self.stats.short_circuited += 1
        self.stats.last_error = str(exc)
        return done(outcome=outcome, status=exc.status, error=str(exc))

    async def _attempts(
        self, request: HttpRequest, deadline: float, progress: _Progress
    ) -> tuple[httpx.Response, str | None]:
        """Send with retries; return the final response and, for a failure, why.

        The decisions (retry or not, how long to wait, what the breaker learns) are
        `policy.admit` and `policy.decide`; this loop carries them out."""
        loop = asyncio.get_running_loop()
        method = request.method.upper()
        idempotent = policy.is_idempotent(method)
        url = self._url(request)
        content = self._content(request)
        retries_left = max(0, request.retries)
        auth_retry_done = False
        while True:
            admission = policy.admit(
                breaker_allows=self.breaker.allow(), now=loop.time(), deadline=deadline
            )
            if admission is Admission.CIRCUIT_OPEN:
                raise CircuitOpen(
                    "circuit open after repeated failures "
                    f"(next probe in {self.breaker.retry_in():.1f}s)"
                )
            if admission is Admission.NO_BUDGET:
                self.breaker.release()
                raise CrmTimeout("time budget used up before the request could be sent")
            try:
                auth_headers = await self.auth.headers()
            except BaseException:
                self.breaker.release()
                raise
            headers = {**self._base_headers, **request.headers, **auth_headers}
            if request.body is not None and "json" not in content:
                headers.setdefault("Content-Type", request.content_type)
            progress.attempts += 1
            self.stats.attempts += 1
            remaining = deadline - loop.time()
            timeout = httpx.Timeout(
                remaining, connect=min(self.config.timeouts.connect_s, remaining)
            )
            response: httpx.Response | None = None
            failure: _TransportFailure | None = None
            try:
                response = await self._http.request(
                    method, url, headers=headers, timeout=timeout, **content
                )
            except asyncio.CancelledError:
                # The caller hung up (or the budget ran out) mid-request: a half-open
                # probe that is never answered must not keep the breaker shut for ever.
                self.breaker.release()
                raise
            except httpx.HTTPError as exc:
                failure = _TransportFailure(_failure_kind(exc), exc)
            token_dropped = False
            if response is not None and response.status_code == 401 and not auth_retry_done:
                token_dropped = self.auth.invalidate(auth_headers)
            decision = policy.decide(
                policy.Attempt(
                    number=progress.attempts,
                    idempotent=idempotent,
                    retries_left=retries_left,
                    now=loop.time(),
                    deadline=deadline,
                    status=None if response is None else response.status_code,
                    failure=None if failure is None else failure.kind,
                    retry_after_s=None
                    if response is None
                    else retry_after_seconds(response.headers.get("retry-after")),
                    token_dropped=token_dropped,
                ),
                self._backoff,
                jitter=self._rand(),
            )
            self._tell_breaker(decision)
            match decision.next:
                case Next.ANSWER:
                    assert response is not None  # policy: only an answer is answered
                    return response, decision.reason
                case Next.FAIL:
                    assert failure is not None  # policy: only a transport failure fails
                    raise failure.error()
                case Next.REAUTH:
                    assert response is not None
                    await response.aclose()
                    auth_retry_done = True
                    self.stats.auth_retries += 1
                case Next.RETRY:
                    if response is not None:
                        await response.aclose()
                    retries_left -= 1
                    self.stats.retries += 1
                    await asyncio.sleep(decision.delay_s)
                case unreachable:
                    assert_never(unreachable)

    def _tell_breaker(self, decision: Decision) -> None:
        match decision.health:
            case Health.UP:
                self.breaker.record_success()
            case Health.DOWN:
                self.breaker.record_failure()
            case Health.THROTTLED:
                self.breaker.hold_open(decision.hold_s)
            case Health.UNKNOWN:
                self.breaker.release()
            case Health.REFUSED:
                self.breaker.hold_open(self.config.breaker.open_s)
            case unreachable:
                assert_never(unreachable)
        if decision.next is Next.RETRY:
            # Whatever the breaker learnt, this request's probe (if it was one) is over.
            self.breaker.release()

    def snapshot(self) -> dict[str, Any]:
        s = self.stats
        return {
            "kind": self.config.kind,
            "requests": s.requests,
            "successes": s.successes,
            "errors": s.errors,
            "timeouts": s.timeouts,
            "attempts": s.attempts,
            "retries": s.retries,
            "auth_retries": s.auth_retries,
            "token_fetches": self.auth.token_fetches,
            "short_circuited": s.short_circuited,
            "in_flight": s.in_flight,
            "peak_in_flight": s.peak_in_flight,
            "breaker": self.breaker.state.value,
            "breaker_opened": self.breaker.opened_count,
            "status_counts": dict(s.status_counts),
            "last_error": s.last_error,
        }

    async def aclose(self) -> None:
        await self.auth.aclose()
        await self._http.aclose()
