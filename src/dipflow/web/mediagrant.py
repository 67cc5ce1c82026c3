"""Who may fetch a rendered prompt: `/media/<key>/<mac>.wav`, where `mac` is an HMAC of
the key and the browser's media scope under a server secret. Layer 6 (web).

A prompt's key is a hash of its text, voice and engine. Served at `/media/<key>.wav`, it
was an oracle: anyone could hash "Hello Ada Lovelace, your case about..." and ask
whether that prompt had been rendered, i.e. whether that customer had called. Now the
browser phone gets, for each prompt it plays, a URL whose MAC binds the key to a random
scope kept in that browser's signed session cookie. Another browser has another scope
(and no secret to compute MACs with), so it can fetch nothing it was not played.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Any

MEDIA_SCOPE_KEY = "media"
"""The session cookie's key for the browser's media scope."""
MAC_CHARS = 32
_SCOPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


class MediaGrants:
    def __init__(self, secret: str) -> None:
        # A key of its own, derived from the session secret: a MAC made here is never a
        # valid signature of anything else.
        self._key = hmac.new(secret.encode(), b"dipflow media grants", hashlib.sha256).digest()

    @staticmethod
    def scope(session: dict[str, Any], *, create: bool) -> str | None:
        """The browser's media scope (made, with `create`, on its first visit to /phone)."""
        value = session.get(MEDIA_SCOPE_KEY)
        if isinstance(value, str) and _SCOPE.fullmatch(value):
            return value
        if not create:
            return None
        value = secrets.token_urlsafe(18)
        session[MEDIA_SCOPE_KEY] = value
        return value

    def mac(self, scope: str, key: str) -> str:
        digest = hmac.new(self._key, f"{scope}\n{key}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:MAC_CHARS]

    def path(self, scope: str, key: str) -> str:
        return f"/media/{key}/{self.mac(scope, key)}.wav"

    def allows(self, scope: str | None, key: str, mac: str) -> bool:
        if scope is None:
            return False
        return hmac.compare_digest(self.mac(scope, key).encode(), mac.encode())
