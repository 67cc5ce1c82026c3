"""Sign-in sessions kept by the node: the signed cookie carries only a random session id,
and a session is valid while this table holds it. Layer 6 (web).

A signed cookie alone cannot be revoked: a copy taken before sign-out would work until it
expired. Here signing out deletes the entry, so every copy stops working at once, and the
WebSockets the session opened are told (`watch`) and close. A session also ends after
`idle_timeout_s` without a request (an open desktop socket keeps it alive) and
`max_age_s` after sign-in.

The table lives in this process: a restart signs everybody out, and several nodes need
their load balancer to keep each browser on one node (sticky sessions); see
docs/security.md.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dipflow.runtime.websecurity import SessionSettings

MAX_SESSIONS = 50_000
"""Sessions kept at most; the oldest go first (sign-ins need a valid password, so this is
a backstop, not a limit anyone reaches)."""


@dataclass(slots=True)
class WebSession:
    sid: str
    username: str
    created: float
    last_seen: float
    watchers: set[asyncio.Event] = field(default_factory=set)


class SessionTable:
    def __init__(
        self,
        settings: SessionSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings if settings is not None else SessionSettings()
        self._clock = clock
        self._sessions: dict[str, WebSession] = {}

    def open(self, username: str) -> str:
        """A new session for `username`; its id goes into the cookie."""
        now = self._clock()
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = WebSession(sid=sid, username=username, created=now, last_seen=now)
        if len(self._sessions) > MAX_SESSIONS:
            self._prune(now)
        return sid

    def username(self, sid: object, *, touch: bool = True) -> str | None:
        """The user of a live session (and, with `touch`, it was just used), else None."""
        if not isinstance(sid, str):
            return None
        session = self._live(sid, self._clock())
        if session is None:
            return None
        if touch:
            session.last_seen = self._clock()
        return session.username

    def close(self, sid: object) -> str | None:
        """End the session (sign-out); its watchers are woken. Returns its user."""
        if not isinstance(sid, str):
            return None
        session = self._sessions.pop(sid, None)
        if session is None:
            return None
        for event in session.watchers:
            event.set()
        return session.username

    def close_user(self, username: str) -> int:
        """End every session of `username` (a removed or disabled login)."""
        sids = [s.sid for s in self._sessions.values() if s.username == username]
        for sid in sids:
            self.close(sid)
        return len(sids)

    def watch(self, sid: str) -> asyncio.Event:
        """An event set when the session ends by sign-out (expiry is seen by `username`)."""
        event = asyncio.Event()
        session = self._sessions.get(sid)
        if session is None:
            event.set()
        else:
            session.watchers.add(event)
        return event

    def unwatch(self, sid: str, event: asyncio.Event) -> None:
        session = self._sessions.get(sid)
        if session is not None:
            session.watchers.discard(event)

    def __len__(self) -> int:
        return len(self._sessions)

    def _live(self, sid: str, now: float) -> WebSession | None:
        session = self._sessions.get(sid)
        if session is None:
            return None
        idle = now - session.last_seen > self.settings.idle_timeout_s
        old = now - session.created > self.settings.max_age_s
        if idle or old:
            self.close(sid)
            return None
        return session

    def _prune(self, now: float) -> None:
        for sid in list(self._sessions):
            self._live(sid, now)
        while len(self._sessions) > MAX_SESSIONS:
            oldest = min(self._sessions.values(), key=lambda s: s.last_seen)
            self.close(oldest.sid)
