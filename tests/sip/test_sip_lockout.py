"""The REGISTER lock-out's arithmetic (`lockout.py`); the attack itself is reproduced
against a real node in tests/security/test_sip_register_bruteforce.py."""

from __future__ import annotations

from dipflow.channels.sip.lockout import AuthThrottle, LockoutPolicy

POLICY = LockoutPolicy(free_failures=5, base_s=1.0, max_s=300.0, forget_s=900.0, max_keys=100)


def _locks_after_each_failure(throttle: AuthThrottle, count: int) -> list[float]:
    """Fail `count` times, each as soon as allowed; the lock after each failure."""
    now, locks = 0.0, []
    for _ in range(count):
        now += throttle.locked_for(
            user="ann", ip="192.0.2.1", now=now, known_source=False, trusted_source=False
        )
        throttle.failed(user="ann", ip="192.0.2.1", now=now, trusted_source=False)
        locks.append(
            throttle.locked_for(
                user="ann", ip="192.0.2.1", now=now, known_source=False, trusted_source=False
            )
        )
    return locks


def test_locks_double_after_the_free_failures_up_to_the_maximum() -> None:
    locks = _locks_after_each_failure(AuthThrottle(POLICY), 16)
    assert locks[:5] == [0.0] * 5
    assert locks[5:] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    # At that pace 1,500 guesses take about 1,500 x 300 s: five days, not half a second.


def test_the_users_own_phone_is_exempt_from_the_source_and_user_locks() -> None:
    throttle = AuthThrottle(POLICY)
    for n in range(10):  # somebody guesses ann's password from many addresses
        throttle.failed(user="ann", ip=f"198.51.100.{n}", now=0.0, trusted_source=False)
    assert (
        throttle.locked_for(
            user="ann", ip="203.0.113.9", now=1.0, known_source=False, trusted_source=False
        )
        > 0
    )
    # ...but ann's registered phone re-registers from its own address.
    assert (
        throttle.locked_for(
            user="ann", ip="203.0.113.5", now=1.0, known_source=True, trusted_source=False
        )
        == 0
    )


def test_a_quiet_key_starts_again_and_a_success_clears() -> None:
    throttle = AuthThrottle(POLICY)
    _locks_after_each_failure(throttle, 7)
    assert (
        throttle.locked_for(
            user="ann", ip="192.0.2.1", now=10_000.0, known_source=False, trusted_source=False
        )
        == 0
    )
    throttle.failed(user="ann", ip="192.0.2.1", now=10_000.0, trusted_source=False)
    assert (
        throttle.locked_for(
            user="ann", ip="192.0.2.1", now=10_000.0, known_source=False, trusted_source=False
        )
        == 0
    )  # forgotten: free failures again
    throttle.succeeded(user="ann", ip="192.0.2.1")
    assert len(throttle) == 0
