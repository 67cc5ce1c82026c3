"""Answering digest challenges (RFC 3261 §22.2/22.3, RFC 2617, RFC 8760). Layer 4 (channels).

A 401 (`WWW-Authenticate`) or 407 (`Proxy-Authenticate`) to our REGISTER or INVITE is
answered once with `Authorization` / `Proxy-Authorization`: MD5, SHA-256 or
SHA-512-256, with `qop=auth` when the server offers it (our cnonce, the nonce count
kept per nonce). A request is retried at most once per kind of challenge (a proxy's 407, then
the registrar's 401, may both come); a further challenge without `stale=true` means the
credentials are wrong, and the caller gives up instead of looping (§22.2).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from dipflow.channels.sip.message import SipMessage
from dipflow.channels.sip.registrar import parse_digest


def _sha512_256(data: bytes) -> hashlib._Hash:
    return hashlib.new("sha512_256", data)


_HASHES: dict[str, Callable[[bytes], hashlib._Hash]] = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
    "SHA-512-256": _sha512_256,
}
_PREFERENCE = ("SHA-512-256", "SHA-256", "MD5")
"""RFC 8760 §2.4: several challenges may be offered; take the strongest we know."""


class DigestError(ValueError):
    """A challenge we cannot answer (unknown algorithm, no qop we support, wrong realm)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str
    qop: str | None
    """`auth` when the server offers it (we never do auth-int), None for RFC 2069 digest."""
    opaque: str | None
    stale: bool
    proxy: bool
    """From a 407: the answer goes in Proxy-Authorization."""


def challenges(response: SipMessage) -> list[Challenge]:
    """Every digest challenge of a 401/407 we could answer, strongest first."""
    proxy = response.status == 407
    name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    found: list[Challenge] = []
    for value in response.headers.get_all(name):
        params = parse_digest(value)
        if not params or "nonce" not in params:
            continue
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm not in _HASHES:
            continue
        qops = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
        if qops and "auth" not in qops:
            continue  # auth-int only: we do not hash bodies
        found.append(
            Challenge(
                realm=params.get("realm", ""), nonce=params["nonce"], algorithm=algorithm,
                qop="auth" if qops else None, opaque=params.get("opaque"),
                stale=params.get("stale", "").lower() == "true", proxy=proxy,
            )
        )  # fmt: skip
    found.sort(key=lambda c: _PREFERENCE.index(c.algorithm))
    return found


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def answer(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    nonce_count: int = 1,
    cnonce: str | None = None,
) -> str:
    """The `Authorization` / `Proxy-Authorization` value answering `challenge`."""
    factory = _HASHES.get(challenge.algorithm)
    if factory is None:
        raise DigestError(f"unsupported digest algorithm {challenge.algorithm!r}")

    def h(text: str) -> str:
        return factory(text.encode()).hexdigest()

    ha1 = h(f"{username}:{challenge.realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    parts = [
        f"username={_quote(username)}", f"realm={_quote(challenge.realm)}",
        f"nonce={_quote(challenge.nonce)}", f"uri={_quote(uri)}",
    ]  # fmt: skip
    if challenge.qop == "auth":
        cnonce = cnonce or secrets.token_hex(8)
        nc = f"{nonce_count:08x}"
        response = h(f"{ha1}:{challenge.nonce}:{nc}:{cnonce}:auth:{ha2}")
        parts += [f"response={_quote(response)}", "qop=auth", f"nc={nc}",
                  f"cnonce={_quote(cnonce)}"]  # fmt: skip
    else:
        parts.append(f"response={_quote(h(f'{ha1}:{challenge.nonce}:{ha2}'))}")
    parts.append(f"algorithm={challenge.algorithm}")
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote(challenge.opaque)}")
    return "Digest " + ", ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestAccount:
    """Who we are to a server that challenges us."""

    username: str
    password: str
    realm: str | None = None
    """Only answer challenges of this realm (None: any)."""


class DigestSession:
    """Answers the challenges to one request's retries (nonce counts, loop detection)."""

    MAX_ANSWERS = 4
    """Stale nonces may be re-answered, but never without end."""

    def __init__(self, account: DigestAccount) -> None:
        self.account = account
        self._counts: dict[str, int] = {}
        self._answered: set[bool] = set()
        """The kinds of challenge answered (True: proxy)."""
        self._answers = 0

    def authorize(self, request: SipMessage, response: SipMessage) -> tuple[str, str] | None:
        """(header name, value) to set on the retried `request`, or None to give up: no
        challenge we can answer, another realm, or a second challenge of the same kind
        that is not `stale` (wrong credentials, §22.2)."""
        for challenge in challenges(response):
            if self.account.realm is not None and challenge.realm != self.account.realm:
                continue
            if challenge.proxy in self._answered and not challenge.stale:
                return None
            if self._answers >= self.MAX_ANSWERS:
                return None
            self._answered.add(challenge.proxy)
            self._answers += 1
            count = self._counts.get(challenge.nonce, 0) + 1
            self._counts[challenge.nonce] = count
            value = answer(
                challenge, method=request.method or "", uri=request.uri or "",
                username=self.account.username, password=self.account.password,
                nonce_count=count,
            )  # fmt: skip
            return ("Proxy-Authorization" if challenge.proxy else "Authorization", value)
        return None
