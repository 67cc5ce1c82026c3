"""A minimal registrar for agents' softphones (RFC 3261 §10) with digest auth. Layer 4 (channels).

Authentication is HTTP Digest as SIP uses it (RFC 2617 via RFC 3261 §22.4),
MD5 with qop=auth, or SHA-256 when the client picks it (RFC 8760). Nonces are
stateless: an HMAC of their issue time under a per-process secret, valid for
five minutes, so the registrar keeps no per-challenge state for an attacker to fill.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from dipflow.channels.sip.message import NameAddr, SipMessage, SipParseError

NONCE_LIFETIME_S = 300.0
_ALGORITHMS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """Where a registered user can be reached."""

    user: str
    contact_uri: str
    source: tuple[str, int]
    """The address the REGISTER came from: we send there (works behind NAT, RFC 3581 spirit)."""
    transport: str
    expires_at: float


def parse_digest(header: str) -> dict[str, str]:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    params: dict[str, str] = {}
    for part in _split_commas(rest):
        name, eq, value = part.partition("=")
        if eq:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            params[name.strip().lower()] = value
    return params


def _split_commas(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


class Registrar:
    def __init__(self, *, realm: str, users: dict[str, str], max_expires_s: int) -> None:
        self.realm = realm
        self.users = users
        self.max_expires_s = max_expires_s
        self._secret = secrets.token_bytes(32)
        self._bindings: dict[str, Binding] = {}

    def _nonce(self, now: float) -> str:
        stamp = f"{now:.3f}"
        mac = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{stamp}-{mac}"

    def _nonce_valid(self, nonce: str, now: float) -> bool:
        stamp, _, mac = nonce.partition("-")
        expected = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
        if not hmac.compare_digest(mac, expected):
            return False
        try:
            issued = float(stamp)
        except ValueError:
            return False
        return 0 <= now - issued <= NONCE_LIFETIME_S

    def challenge(self, now: float) -> str:
        return f'Digest realm="{self.realm}", nonce="{self._nonce(now)}", algorithm=MD5, qop="auth"'

    def authenticate(
        self, request: SipMessage, now: float, *, header_name: str = "Authorization"
    ) -> str | None:
        """The authenticated username, or None (answer 401 with `challenge`);
        `header_name`: `Proxy-Authorization` after a 407 (trunks.py's inbound digest)."""
        header = request.headers.get(header_name)
        if header is None:
            return None
        params = parse_digest(header)
        user = params.get("username", "")
        password = self.users.get(user)
        hash_factory = _ALGORITHMS.get(params.get("algorithm", "MD5").upper())
        if password is None or hash_factory is None or params.get("realm") != self.realm:
            return None
        nonce = params.get("nonce", "")
        if not self._nonce_valid(nonce, now):
            return None

        def digest(text: str) -> str:
            return hash_factory(text.encode()).hexdigest()

        ha1 = digest(f"{user}:{self.realm}:{password}")
        ha2 = digest(f"{request.method}:{params.get('uri', '')}")
        qop = params.get("qop")
        if qop == "auth":
            expected = digest(
                f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:auth:{ha2}"
            )
        elif qop is None:
            expected = digest(f"{ha1}:{nonce}:{ha2}")
        else:
            return None
        if not hmac.compare_digest(expected, params.get("response", "").lower()):
            return None
        return user

    def register(
        self, request: SipMessage, user: str, source: tuple[str, int], transport: str, now: float
    ) -> list[str]:
        """Apply the REGISTER's bindings; returns the Contact values for the 200 OK."""
        default_expires = _int_or(request.headers.get("Expires"), 3600)
        contacts = request.headers.get_all("Contact")
        if contacts == ["*"]:
            self._bindings.pop(user, None)
            return []
        for value in contacts:
            try:
                contact = NameAddr.parse(value)
            except SipParseError:
                continue
            expires = min(
                _int_or(contact.params.get("expires"), default_expires), self.max_expires_s
            )
            if expires <= 0:
                self._bindings.pop(user, None)
                continue
            self._bindings[user] = Binding(
                user=user, contact_uri=contact.uri, source=source, transport=transport,
                expires_at=now + expires,
            )  # fmt: skip
        binding = self._bindings.get(user)
        if binding is None:
            return []
        remaining = max(0, int(binding.expires_at - now))
        return [f"<{binding.contact_uri}>;expires={remaining}"]

    def lookup(self, user: str, now: float) -> Binding | None:
        binding = self._bindings.get(user)
        if binding is None or binding.expires_at <= now:
            return None
        return binding


def _int_or(text: str | None, default: int) -> int:
    if text is None or not text.strip().isdigit() or len(text.strip()) > 9:
        return default
    return int(text.strip())
