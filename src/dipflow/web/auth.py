"""Desktop logins: users from `config.users`, scrypt verification, the signed-in user.

The cookie (Starlette's `SessionMiddleware`: an itsdangerous-signed, HttpOnly,
SameSite=Lax cookie) holds only a session id and a CSRF token; the session id names an
entry of the node's `SessionTable`, and the user's role and agent are looked up in the
configuration on every request. The login throttle is `dipflow.web.throttle`.
Layer 6 (web).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from dipflow.runtime.config import DesktopUser
from dipflow.runtime.passwords import hash_password, verify_password
from dipflow.web.sessions import SessionTable

SESSION_ID_KEY = "sid"
"""The session cookie's key for the session id (`dipflow.web.sessions`)."""


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


def current_user(
    conn: HTTPConnection, users: UserDirectory, sessions: SessionTable
) -> WebUser | None:
    """The signed-in user of this request: the cookie's session id must name a live session
    of the table (a signed cookie alone is not enough: it may be a copy from before sign-out)."""
    username = sessions.username(conn.session.get(SESSION_ID_KEY))
    if username is None:
        return None
    return users.get(username)
