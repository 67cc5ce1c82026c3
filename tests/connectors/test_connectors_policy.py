"""The connector's retry and breaker policy, as a table: one row per rule.

Each row is what an attempt produced (a status or a transport failure, Retry-After, the
method, the retries and budget left) and what the connector must do next, and what its
circuit breaker must learn. Times are plain numbers: 10 s of budget left unless a row
says otherwise; backoff 0.1 s doubling up to 1 s, with a jitter of 0.5.
"""

from __future__ import annotations

from typing import Any

import pytest

from dipflow.connectors.policy import (
    Admission,
    Attempt,
    Backoff,
    Decision,
    Failure,
    Health,
    Next,
    admit,
    decide,
    is_idempotent,
)

BACKOFF = Backoff(base_s=0.1, cap_s=1.0)
JITTER = 0.5
NOW = 100.0


def attempt(**fields: Any) -> Attempt:
    values: dict[str, Any] = {
        "number": 1,
        "idempotent": True,
        "retries_left": 2,
        "now": NOW,
        "deadline": NOW + 10,
    }
    values.update(fields)
    return Attempt(**values)


def answer(health: Health, **kw: Any) -> Decision:
    return Decision(next=Next.ANSWER, health=health, **kw)


def retry(delay_s: float, health: Health = Health.DOWN, **kw: Any) -> Decision:
    return Decision(next=Next.RETRY, health=health, delay_s=delay_s, **kw)


FAIL = Decision(next=Next.FAIL, health=Health.DOWN)
POST = {"idempotent": False}

TABLE: list[tuple[str, Attempt, Decision]] = [
    # -- answers --------------------------------------------------------------------
    ("200 is answered, service up", attempt(status=200), answer(Health.UP)),
    ("404 is answered, service up", attempt(status=404), answer(Health.UP)),
    (
        "401 with the token dropped: fresh token, no retry used",
        attempt(status=401, token_dropped=True, retries_left=0),
        Decision(next=Next.REAUTH, health=Health.UNKNOWN),
    ),
    (
        # a persistent 401: the org refuses this identity; the breaker holds every call
        # (and every token fetch) off for its open period
        "401 again (or static credentials) is the error output and opens the breaker",
        attempt(status=401, token_dropped=False),
        answer(Health.REFUSED),
    ),
    # -- throttling (429) -------------------------------------------------------------
    ("429 without Retry-After: throttled but alive", attempt(status=429), answer(Health.UP)),
    (
        "429 Retry-After 2 s, GET: hold the breaker 2 s, retry after 2 s",
        attempt(status=429, retry_after_s=2.0),
        retry(2.0, Health.THROTTLED, hold_s=2.0),
    ),
    (
        "429 Retry-After 2 s, POST: hold the breaker, answer",
        attempt(status=429, retry_after_s=2.0, **POST),
        answer(Health.THROTTLED, hold_s=2.0),
    ),
    (
        "429 Retry-After 2 s, no retry left: hold the breaker, answer",
        attempt(status=429, retry_after_s=2.0, retries_left=0),
        answer(Health.THROTTLED, hold_s=2.0),
    ),
    (
        "429 Retry-After beyond the budget: error output at once, saying why",
        attempt(status=429, retry_after_s=30.0),
        answer(
            Health.THROTTLED,
            hold_s=30.0,
            reason="HTTP 429: Retry-After 30s exceeds the remaining budget 10.00s",
        ),
    ),
    (
        "429 Retry-After equal to the budget: no time left for the retry",
        attempt(status=429, retry_after_s=10.0),
        answer(
            Health.THROTTLED,
            hold_s=10.0,
            reason="HTTP 429: Retry-After 10s exceeds the remaining budget 10.00s",
        ),
    ),
    (
        "429 after the deadline: the remaining budget reads 0",
        attempt(status=429, retry_after_s=1.0, now=NOW + 11),
        answer(
            Health.THROTTLED,
            hold_s=1.0,
            reason="HTTP 429: Retry-After 1s exceeds the remaining budget 0.00s",
        ),
    ),
    # -- server errors ----------------------------------------------------------------
    (
        "503 Retry-After 1 s, GET: a failure, retry after 1 s",
        attempt(status=503, retry_after_s=1.0),
        retry(1.0),
    ),
    (
        "503 Retry-After 1 s, POST: a failure, answered",
        attempt(status=503, retry_after_s=1.0, **POST),
        answer(Health.DOWN),
    ),
    (
        "503 Retry-After beyond the budget",
        attempt(status=503, retry_after_s=20.0),
        answer(Health.DOWN, reason="HTTP 503: Retry-After 20s exceeds the remaining budget 10.00s"),
    ),
    ("503, GET, attempt 1: backoff 0.1 s x jitter", attempt(status=503), retry(0.05)),
    ("502, PUT, attempt 3: backoff 0.4 s x jitter", attempt(status=502, number=3), retry(0.2)),
    ("504, DELETE, attempt 9: backoff capped at 1 s", attempt(status=504, number=9), retry(0.5)),
    ("503, POST: the server saw it, answered", attempt(status=503, **POST), answer(Health.DOWN)),
    ("503, no retry left", attempt(status=503, retries_left=0), answer(Health.DOWN)),
    (
        "503, the backoff and an attempt do not fit in the budget",
        attempt(status=503, deadline=NOW + 0.054),
        answer(Health.DOWN),
    ),
    (
        "503, the backoff and an attempt just fit",
        attempt(status=503, deadline=NOW + 0.056),
        retry(0.05),
    ),
    ("500 is not retried", attempt(status=500), answer(Health.DOWN)),
    ("501 is not retried", attempt(status=501), answer(Health.DOWN)),
    # -- transport failures -----------------------------------------------------------
    (
        "connection refused, POST: the request never left, retried",
        attempt(failure=Failure.CONNECT_ERROR, **POST),
        retry(0.05),
    ),
    (
        "connect timeout, POST: the request never left, retried",
        attempt(failure=Failure.CONNECT_TIMEOUT, **POST, number=2),
        retry(0.1),
    ),
    (
        "connection refused, no retry left",
        attempt(failure=Failure.CONNECT_ERROR, retries_left=0),
        FAIL,
    ),
    (
        "connection refused, no time for a backoff",
        attempt(failure=Failure.CONNECT_ERROR, deadline=NOW + 0.01),
        FAIL,
    ),
    ("connection broken, GET: retried", attempt(failure=Failure.BROKEN), retry(0.05)),
    (
        "connection broken, POST: the server may have acted",
        attempt(failure=Failure.BROKEN, **POST),
        FAIL,
    ),
    ("read timeout: never retried, the budget is spent", attempt(failure=Failure.TIMEOUT), FAIL),
]


@pytest.mark.parametrize(("row", "given", "expected"), TABLE, ids=[row for row, _, _ in TABLE])
def test_decision_table(row: str, given: Attempt, expected: Decision) -> None:
    assert decide(given, BACKOFF, jitter=JITTER) == expected


def test_full_jitter_can_retry_at_once() -> None:
    assert decide(attempt(status=503), BACKOFF, jitter=0.0) == retry(0.0)


def test_an_attempt_with_neither_status_nor_failure_is_refused() -> None:
    with pytest.raises(ValueError, match="status or a failure"):
        decide(attempt(), BACKOFF, jitter=JITTER)


ADMISSIONS = [
    ("closed breaker, budget left", True, 10.0, Admission.SEND),
    ("open breaker fails fast", False, 10.0, Admission.CIRCUIT_OPEN),
    ("open breaker is reported before an empty budget", False, 0.0, Admission.CIRCUIT_OPEN),
    ("less than 5 ms left: no attempt can succeed", True, 0.004, Admission.NO_BUDGET),
    ("6 ms left is enough to try", True, 0.006, Admission.SEND),
]


@pytest.mark.parametrize(
    ("row", "allows", "left", "expected"), ADMISSIONS, ids=[a[0] for a in ADMISSIONS]
)
def test_admission_table(row: str, allows: bool, left: float, expected: Admission) -> None:
    assert admit(breaker_allows=allows, now=NOW, deadline=NOW + left) is expected


@pytest.mark.parametrize(
    ("method", "idempotent"),
    [
        ("GET", True),
        ("get", True),
        ("HEAD", True),
        ("OPTIONS", True),
        ("PUT", True),
        ("DELETE", True),
        ("POST", False),
        ("PATCH", False),
    ],
)
def test_idempotent_methods_are_rfc_9110s(method: str, idempotent: bool) -> None:
    assert is_idempotent(method) is idempotent
