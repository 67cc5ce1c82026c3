"""A minimal registrar for agents' softphones (RFC 3261 §10) with digest auth. Layer 4 (channels).

Authentication is HTTP Digest as SIP uses it (RFC 2617 via RFC 3261 §22.4),
MD5 with qop=auth, or SHA-256 when the client picks it (RFC 8760), with RFC 7616's
replay protection (see `Registrar`). Throttling of wrong answers is `lockout.py`'s.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

from dipflow.channels.sip.message import NameAddr, SipMessage, SipParseError

NONCE_LIFETIME_S = 120.0
"""Default life of a nonce (`SipSettings.register_nonce_lifetime_s`)."""
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


class AuthOutcome(StrEnum):
    OK = "ok"
    MISSING = "missing"
    """No credentials (or not for our realm, or an algorithm we do not offer): challenge."""
    STALE = "stale"
    """The right answer to a nonce that expired: challenge again with `stale=true`
    (RFC 7616 §3.3), not a failure."""
    FAILED = "failed"
    """A wrong answer, an unknown user, or a nonce we did not issue to this address."""
    REPLAY = "replay"
    """The right answer, already used: a nonce count that does not grow (RFC 7616 §3.4.5)."""


@dataclass(frozen=True, slots=True)
class AuthResult:
    outcome: AuthOutcome
    user: str | None
    """The username the request claims (None when it claims none)."""


@dataclass(slots=True)
class _NonceUse:
    highest_nc: int
    issued: float


class Registrar:
    """Bindings, and the digest check of REGISTERs.

    Nonces are stateless when issued (an HMAC of their issue time, a random part and
    the client's IP under a per-process secret), so answering challenges keeps no state
    for an attacker to fill. State is kept once a nonce has been answered *correctly*:
    its highest nonce count, which every later use must exceed (RFC 7616 §3.4.5 replay
    protection; a request without qop may use its nonce once). A replayed REGISTER, from
    any port, is therefore refused and cannot move a binding. That table is bounded:
    when a nonce's record is forgotten, every nonce issued up to it becomes stale, so a
    forgotten record never reopens a replay. A nonce lives `nonce_lifetime_s` and
    answers only for the address it was issued to (RFC 7616 §5.4 suggests the client's
    address in the nonce).
    """

    def __init__(
        self,
        *,
        realm: str,
        users: dict[str, str],
        max_expires_s: int,
        nonce_lifetime_s: float = NONCE_LIFETIME_S,
        max_nonce_records: int = 10_000,
    ) -> None:
        self.realm = realm
        self.users = users
        self.max_expires_s = max_expires_s
        self.nonce_lifetime_s = nonce_lifetime_s
        self.max_nonce_records = max_nonce_records
        self._secret = secrets.token_bytes(32)
        self._bindings: dict[str, Binding] = {}
        self._used: OrderedDict[str, _NonceUse] = OrderedDict()
        self._forgotten_up_to = -1.0

    def _mac(self, stamp: str, salt: str, ip: str) -> str:
        text = f"{stamp}.{salt}.{ip}".encode()
        return hmac.new(self._secret, text, hashlib.sha256).hexdigest()[:32]

    def _nonce(self, ip: str, now: float) -> str:
        stamp, salt = f"{now:.3f}", secrets.token_hex(4)
        return f"{stamp}-{salt}-{self._mac(stamp, salt, ip)}"

    def _nonce_issued(self, nonce: str, ip: str) -> float | None:
        """When we issued `nonce` to `ip`; None if we did not."""
        stamp, _, rest = nonce.partition("-")
        salt, _, mac = rest.partition("-")
        if not hmac.compare_digest(mac, self._mac(stamp, salt, ip)):
            return None
        try:
            return float(stamp)
        except ValueError:
            return None

    def challenge(self, ip: str, now: float, *, stale: bool = False) -> str:
        """A WWW-Authenticate value with a fresh nonce for a client at `ip`."""
        flag = ", stale=true" if stale else ""
        return (
            f'Digest realm="{self.realm}", nonce="{self._nonce(ip, now)}", '
            f'algorithm=MD5, qop="auth"{flag}'
        )

    @staticmethod
    def claimed_user(request: SipMessage, header_name: str = "Authorization") -> str | None:
        """The username the request's credentials name (unchecked)."""
        header = request.headers.get(header_name)
        if header is None:
            return None
        return parse_digest(header).get("username", "")[:128] or None

    def authenticate(
        self, request: SipMessage, ip: str, now: float, *, header_name: str = "Authorization"
    ) -> AuthResult:
        """Check the request's digest answer (see `AuthOutcome`). Records the nonce count
        of a correct answer, so the same answer is a replay next time. `header_name`:
        `Proxy-Authorization` after a 407 (trunks.py's inbound digest)."""
        header = request.headers.get(header_name)
        if header is None:
            return AuthResult(AuthOutcome.MISSING, None)
        params = parse_digest(header)
        user = params.get("username", "")[:128] or None
        hash_factory = _ALGORITHMS.get(params.get("algorithm", "MD5").upper())
        if user is None or hash_factory is None or params.get("realm") != self.realm:
            return AuthResult(AuthOutcome.MISSING, user)
        password = self.users.get(user)
        nonce = params.get("nonce", "")
        issued = self._nonce_issued(nonce, ip)
        if password is None or issued is None:
            return AuthResult(AuthOutcome.FAILED, user)
        qop = params.get("qop")
        nc_text = params.get("nc", "")
        if qop == "auth":
            if len(nc_text) != 8 or not all(c in string.hexdigits for c in nc_text):
                return AuthResult(AuthOutcome.FAILED, user)
            nc = int(nc_text, 16)
        elif qop is None:
            nc = 1  # RFC 2069 style: no count, so the nonce may serve once
        else:
            return AuthResult(AuthOutcome.FAILED, user)

        def digest(text: str) -> str:
            return hash_factory(text.encode()).hexdigest()

        ha1 = digest(f"{user}:{self.realm}:{password}")
        ha2 = digest(f"{request.method}:{params.get('uri', '')}")
        if qop == "auth":
            expected = digest(f"{ha1}:{nonce}:{nc_text}:{params.get('cnonce', '')}:auth:{ha2}")
        else:
            expected = digest(f"{ha1}:{nonce}:{ha2}")
        if not hmac.compare_digest(expected, params.get("response", "").lower()):
            return AuthResult(AuthOutcome.FAILED, user)
        # The stamp is rounded to the millisecond, possibly up: a nonce answered within
        # that millisecond looks issued in the future. More than a second is not ours.
        age = now - issued
        if not -1.0 <= age <= self.nonce_lifetime_s or issued <= self._forgotten_up_to:
            return AuthResult(AuthOutcome.STALE, user)
        used = self._used.get(nonce)
        if used is not None and nc <= used.highest_nc:
            return AuthResult(AuthOutcome.REPLAY, user)
        self._remember(nonce, nc, issued, now)
        return AuthResult(AuthOutcome.OK, user)

    def _remember(self, nonce: str, nc: int, issued: float, now: float) -> None:
        used = self._used.get(nonce)
        if used is None:
            self._used[nonce] = _NonceUse(highest_nc=nc, issued=issued)
        else:
            used.highest_nc = nc
            self._used.move_to_end(nonce)
        # Expired nonces need no record: they are refused as stale anyway.
        while self._used:
            oldest_nonce, oldest = next(iter(self._used.items()))
            expired = now - oldest.issued > self.nonce_lifetime_s
            if not expired and len(self._used) <= self.max_nonce_records:
                break
            del self._used[oldest_nonce]
            if not expired:
                self._forgotten_up_to = max(self._forgotten_up_to, oldest.issued)

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

    def reachable_at(self, peer: tuple[str, int], now: float) -> bool:
        """Whether a live TCP registration came over the connection from `peer`."""
        return any(
            b.source == peer and b.transport == "tcp" and b.expires_at > now
            for b in self._bindings.values()
        )

    def lookup(self, user: str, now: float) -> Binding | None:
        binding = self._bindings.get(user)
        if binding is None or binding.expires_at <= now:
            return None
        return binding


def _int_or(text: str | None, default: int) -> int:
    if text is None or not text.strip().isdigit() or len(text.strip()) > 9:
        return default
    return int(text.strip())
