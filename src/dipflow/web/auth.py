"""Desktop logins: users from `config.users`, scrypt verification, a login throttle.

The session (Starlette's `SessionMiddleware`: an itsdangerous-signed, HttpOnly,
SameSite=Lax cookie) holds only the username and a CSRF token; the user's role
and agent are looked up in the configuration on every request, so removing a
user from dipflow.yaml ends their access at the next restart. Layer 6 (web).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from dipflow.runtime.config import DesktopUser
from dipflow.runtime.passwords import hash_password, verify_password

SESSION_USER_KEY = "user"


@dataclass(frozen=True, slots=True, kw_only=True)
class WebUser:
    username: str
    role: str
    """`agent` or `supervisor`."""
    agent_id: str | None
    display_name: str

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


class UserDirectory:
    """The configured users, and password checks that take the same time for unknown names."""

    def __init__(self, users: Sequence[DesktopUser]) -> None:
        self._users = {u.username: u for u in users}
        # Checked against when the username is unknown, so that a wrong username costs
        # as much as a wrong password (no user enumeration by timing).
        self._decoy_hash = hash_password("decoy, never a real password")

    def get(self, username: str) -> WebUser | None:
        raw = self._users.get(username)
        if raw is None:
            return None
        return WebUser(
            username=raw.username,
            role=raw.role,
            agent_id=raw.agent_id,
            display_name=raw.display_name or raw.username,
        )

    async def authenticate(self, username: str, password: str) -> WebUser | None:
        raw = self._users.get(username)
        encoded = raw.password_hash if raw is not None else self._decoy_hash
        # scrypt takes tens of milliseconds of CPU: keep it off the event loop.
        ok = await asyncio.to_thread(verify_password, password, encoded)
        if not ok or raw is None:
            return None
        return self.get(username)


class LoginThrottle:
    """At most `max_failures` failed logins per `window_s`, per client address and per username.

    In memory and per process: enough to stop online guessing against one node.
    """

    def __init__(self, *, max_failures: int = 5, window_s: float = 300.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, keys: list[str], now: float | None = None) -> float:
        """Seconds until another attempt is allowed (0 when allowed now)."""
        now = time.monotonic() if now is None else now
        wait = 0.0
        for key in keys:
            if key not in self._failures:
                continue  # checking must not store anything: a spray of names would grow it
            times = self._recent(key, now)
            if len(times) >= self.max_failures:
                wait = max(wait, times[0] + self.window_s - now)
        return wait

    def failed(self, keys: list[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for key in keys:
            self._recent(key, now).append(now)
        if len(self._failures) > 10_000:  # bound memory under a spray of names
            for key in [k for k, v in self._failures.items() if not v]:
                del self._failures[key]

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)


def current_user(conn: HTTPConnection, users: UserDirectory) -> WebUser | None:
    username = conn.session.get(SESSION_USER_KEY)
    if not isinstance(username, str):
        return None
    return users.get(username)
