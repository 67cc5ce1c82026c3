"""When a connector retries and what its breaker learns, as pure functions. Layer 3 (connectors).

`ConnectorClient` does the I/O; these functions decide, from plain values (the time is an
argument, never read here), so that every rule is a row in a table of tests
(tests/connectors/test_connectors_policy.py). The rules:

- Before each attempt (`admit`): an open breaker fails fast; less budget than an attempt
  can use fails as a timeout.
- After each attempt (`decide`):
  - a 401 whose token was dropped is tried again at once with a fresh one, once per
    request, outside the retry count (a rotated key, a token revoked early); a 401 that
    persists (with that fresh token, or with static credentials) means the org refuses
    this identity (application user disabled or missing): the breaker stays open for its
    open period, so calls fail at once and fetch no token meanwhile;
  - 429 with Retry-After holds the breaker open that long (Dataverse's service protection:
    every call would be refused meanwhile); 502/503/504 with Retry-After count as a failure;
    either is retried after Retry-After, for idempotent methods (RFC 9110 section 9.2.2)
    with retries left, and a Retry-After longer than the remaining budget takes the error
    output at once instead of waiting for a timeout; 429 without Retry-After is answered
    as it is (the service is throttling, but alive);
  - 502/503/504 (without Retry-After) are retried with backoff for idempotent methods; any
    5xx counts as a failure;
  - a connection that never opened is retried for every method (the request never left);
    one that broke mid-exchange only for idempotent methods; a read timeout never (the
    budget is the activity's);
  - a backoff is retried only when it, and then a minimal attempt, fit in the budget;
  - anything else (2xx, 4xx) is answered, and tells the breaker the service is up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""RFC 9110 section 9.2.2."""
RETRYABLE_STATUS = frozenset({502, 503, 504})
MIN_ATTEMPT_S = 0.005
"""Below this much budget an attempt cannot succeed; fail instead."""


class Failure(StrEnum):
    """How an attempt failed without an HTTP answer."""

    CONNECT_TIMEOUT = "connect_timeout"
    """No connection within the connect timeout: the request never left."""
    CONNECT_ERROR = "connect_error"
    """The connection was refused or could not be made: the request never left."""
    TIMEOUT = "timeout"
    """Sent, but no answer in time."""
    BROKEN = "broken"
    """The connection broke during the exchange: the server may have acted on it."""


class Next(StrEnum):
    """What the client does after an attempt."""

    ANSWER = "answer"
    """Hand the response back (success, or the error output)."""
    RETRY = "retry"
    """Wait `delay_s`, then try again; uses one of the request's retries."""
    REAUTH = "reauth"
    """Try again at once with a fresh token; uses no retry."""
    FAIL = "fail"
    """Report the transport failure (`CrmTimeout` for a timeout, else `CrmUnavailable`)."""


class Health(StrEnum):
    """What the circuit breaker learns from an attempt."""

    UP = "up"
    """The service answered: `record_success`."""
    DOWN = "down"
    """A failure: `record_failure`."""
    THROTTLED = "throttled"
    """The service asked us to back off: `hold_open(hold_s)`."""
    UNKNOWN = "unknown"
    """Nothing learnt about the service: `release` (a half-open probe may go again)."""
    REFUSED = "refused"
    """The service refuses our credentials even fresh ones (a persistent 401): open the
    breaker for its open period, so that no call (and no token fetch) goes out meanwhile."""


class Admission(StrEnum):
    """Whether an attempt may be sent."""

    SEND = "send"
    CIRCUIT_OPEN = "circuit_open"
    NO_BUDGET = "no_budget"


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits `min(cap_s, base_s * 2**(n-1))`
    times a jitter in [0, 1)."""

    base_s: float
    cap_s: float

    def delay(self, attempt: int, jitter: float) -> float:
        return float(min(self.cap_s, self.base_s * 2 ** (attempt - 1)) * jitter)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One finished attempt, and where its request stands."""

    number: int
    """1-based: the first attempt is 1."""
    idempotent: bool
    retries_left: int
    now: float
    deadline: float
    """The request's budget ends at `deadline` (same clock as `now`)."""
    status: int | None = None
    """The HTTP status; None when the attempt failed without an answer."""
    failure: Failure | None = None
    """Set exactly when `status` is None."""
    retry_after_s: float | None = None
    """The answer's Retry-After, in seconds, when it had a valid one."""
    token_dropped: bool = False
    """A 401 made the authenticator drop its token, and the request has not been retried
    for a 401 yet."""

    @property
    def remaining_s(self) -> float:
        return self.deadline - self.now


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    next: Next
    health: Health
    delay_s: float = 0.0
    """For `RETRY`: how long to wait first."""
    hold_s: float = 0.0
    """For `Health.THROTTLED`: how long the breaker stays open."""
    reason: str | None = None
    """For `ANSWER`: why an answered request takes the error output, when its status alone
    does not say (a Retry-After beyond the budget)."""


def is_idempotent(method: str) -> bool:
    return method.upper() in IDEMPOTENT_METHODS


def admit(*, breaker_allows: bool, now: float, deadline: float) -> Admission:
    """May the next attempt go out? The breaker first: an open circuit fails in microseconds."""
    if not breaker_allows:
        return Admission.CIRCUIT_OPEN
    if deadline - now < MIN_ATTEMPT_S:
        return Admission.NO_BUDGET
    return Admission.SEND


def decide(attempt: Attempt, backoff: Backoff, *, jitter: float) -> Decision:
    """What to do after `attempt`; `jitter` in [0, 1) scales any backoff."""
    if attempt.status is None:
        return _after_failure(attempt, backoff, jitter)
    status = attempt.status
    if status == 401:
        if attempt.token_dropped:
            return Decision(next=Next.REAUTH, health=Health.UNKNOWN)
        return Decision(next=Next.ANSWER, health=Health.REFUSED)
    retry_after = attempt.retry_after_s
    if status == 429 and retry_after is None:
        return Decision(next=Next.ANSWER, health=Health.UP)  # throttled, but alive
    if status == 429 or (status in RETRYABLE_STATUS and retry_after is not None):
        assert retry_after is not None
        if status == 429:
            health, hold = Health.THROTTLED, retry_after
        else:
            health, hold = Health.DOWN, 0.0
        remaining = attempt.remaining_s
        if retry_after >= remaining:
            reason = (
                f"HTTP {status}: Retry-After {retry_after:g}s exceeds the remaining "
                f"budget {max(0.0, remaining):.2f}s"
            )
            return Decision(next=Next.ANSWER, health=health, hold_s=hold, reason=reason)
        if not attempt.idempotent or attempt.retries_left <= 0:
            return Decision(next=Next.ANSWER, health=health, hold_s=hold)
        return Decision(next=Next.RETRY, health=health, hold_s=hold, delay_s=retry_after)
    if status >= 500:
        if status in RETRYABLE_STATUS and attempt.idempotent:
            retry = _backoff_retry(attempt, backoff, jitter)
            if retry is not None:
                return retry
        return Decision(next=Next.ANSWER, health=Health.DOWN)
    return Decision(next=Next.ANSWER, health=Health.UP)


def _after_failure(attempt: Attempt, backoff: Backoff, jitter: float) -> Decision:
    failure = attempt.failure
    if failure is None:
        raise ValueError("an attempt has a status or a failure")
    if failure is Failure.TIMEOUT:
        return Decision(next=Next.FAIL, health=Health.DOWN)
    never_left = failure in (Failure.CONNECT_TIMEOUT, Failure.CONNECT_ERROR)
    if never_left or attempt.idempotent:
        retry = _backoff_retry(attempt, backoff, jitter)
        if retry is not None:
            return retry
    return Decision(next=Next.FAIL, health=Health.DOWN)


def _backoff_retry(attempt: Attempt, backoff: Backoff, jitter: float) -> Decision | None:
    """A retry after backoff (a failure), when one is left and it fits in the budget with
    an attempt after it."""
    if attempt.retries_left <= 0:
        return None
    delay = backoff.delay(attempt.number, jitter)
    if attempt.now + delay + MIN_ATTEMPT_S < attempt.deadline:
        return Decision(next=Next.RETRY, health=Health.DOWN, delay_s=delay)
    return None
