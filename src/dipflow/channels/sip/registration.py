"""Registering to providers: the REGISTER client of `registration` trunks. Layer 4 (channels).

One `TrunkRegistration` task per trunk (RFC 3261 §10.2):

* REGISTER `sip:<domain>` with To/From `sip:<username>@<domain>` and our Contact
  (`sip:<contact_user>@<our address>`: calls for that user are this trunk's), answering
  401/407 with digest (digest_client.py); 423 raises the lifetime to `Min-Expires`;
* the lifetime granted is the `expires` of our Contact in the 200 (else its `Expires`);
  the registration is refreshed at `refresh_fraction` of it (and at least 5 s before
  it runs out), with the same Call-ID and the next CSeq (§10.2.4);
* a failure (timeout, transport error, 403, 5xx...) moves to the next target: the next
  DNS target of the server, then the next server (RFC 3263 §4.3). Once every target has
  failed, it waits (exponential back-off from `retry_min_s` to `retry_max_s`, ±20 %
  jitter so that many trunks do not retry in step) and starts again from the first;
* on stop it removes its binding (Expires: 0), best effort.

Each trunk's state (`RegistrationStatus`) is what the supervisor view and `/metrics` show.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from dataclasses import dataclass, field
from enum import StrEnum

from dipflow.channels.sip.awaiting import Awaiting
from dipflow.channels.sip.core import new_token
from dipflow.channels.sip.digest_client import DigestAccount, DigestSession
from dipflow.channels.sip.dns import DnsLookupError, SipResolver, Target
from dipflow.channels.sip.driver import SipDriver
from dipflow.channels.sip.message import NameAddr, SipMessage, SipParseError, SipUri
from dipflow.channels.sip.trunkconfig import RegistrationAuth, TrunkSettings
from dipflow.channels.sip.trunks import contact_user, registration_domain, server_uri

log = logging.getLogger(__name__)

MIN_REFRESH_MARGIN_S = 5.0


class RegistrationState(StrEnum):
    UNREGISTERED = "unregistered"
    """Not tried yet, or removed on stop."""
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"
    """Every target failed; waiting `retry_in_s` before the next round."""


@dataclass(slots=True)
class RegistrationStatus:
    """One trunk's registration as the supervisor and /metrics see it."""

    trunk: str
    state: RegistrationState = RegistrationState.UNREGISTERED
    server: str | None = None
    """The target registered with (or tried last): `address:port/transport`."""
    expires_at: float | None = None
    """Loop time at which the registrar drops the binding unless refreshed."""
    last_status: int | None = None
    """Status of the last final response (408: timeout, 503: transport error)."""
    last_error: str | None = None
    registrations: int = 0
    """Successful REGISTERs (first ones and refreshes)."""
    failures: int = 0
    """Failed attempts since the last success."""
    failovers: int = 0
    """Times we moved to another target after a failure."""
    history: list[str] = field(default_factory=list)
    """The last few events, newest last (for troubleshooting)."""

    def note(self, text: str) -> None:
        self.history.append(text)
        del self.history[:-10]


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    status: int
    granted_s: int | None = None
    reason: str = ""


class TrunkRegistration:
    """Keeps one trunk registered (see the module docstring)."""

    def __init__(
        self,
        trunk: TrunkSettings,
        *,
        driver: SipDriver,
        awaiting: Awaiting,
        resolver: SipResolver,
        rng: random.Random | None = None,
    ) -> None:
        assert isinstance(trunk.auth, RegistrationAuth)
        self.trunk = trunk
        self.auth: RegistrationAuth = trunk.auth
        self.driver = driver
        self.awaiting = awaiting
        self.resolver = resolver
        self.rng = rng or random.Random()
        self.status = RegistrationStatus(trunk=trunk.name)
        self.domain = registration_domain(trunk)
        self.aor = f"sip:{self.auth.username}@{self.domain}"
        self._from_tag = new_token(6)
        self._call_ids: dict[Target, str] = {}
        self._cseq = 0
        self._current: Target | None = None
        self._expires_s = self.auth.expires_s
        self.changed = asyncio.Event()
        """Set whenever `status` changes (tests and the supervisor wait on it)."""

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        backoff = self.auth.retry_min_s
        while True:
            targets = await self._targets()
            registered_once = False
            for index, target in enumerate(targets):
                if index > 0:
                    self.status.failovers += 1
                    self.status.note(f"failover to {_label(target)}")
                    log.warning("trunk %s: registration fails over to %s", self.trunk.name,
                                _label(target))  # fmt: skip
                while True:
                    attempt = await self._register(target, self._expires_s)
                    if attempt.status // 100 != 2 or attempt.granted_s is None:
                        self._failed(target, attempt)
                        break
                    registered_once = True
                    backoff = self.auth.retry_min_s
                    await asyncio.sleep(self._refresh_delay(attempt.granted_s))
            if not targets:
                self._set(RegistrationState.FAILED, None)
            delay = backoff * self.rng.uniform(0.8, 1.2)
            self.status.note(f"every target failed; retry in {delay:.1f} s")
            if not registered_once:
                backoff = min(backoff * 2, self.auth.retry_max_s)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        """Remove our binding (Expires: 0), best effort and briefly."""
        target = self._current
        if target is None or self.status.state is not RegistrationState.REGISTERED:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._register(target, 0), 2.0)
        self._set(RegistrationState.UNREGISTERED, target)

    def _refresh_delay(self, granted_s: int) -> float:
        return max(1.0, min(granted_s * self.auth.refresh_fraction,
                            granted_s - MIN_REFRESH_MARGIN_S))  # fmt: skip

    async def _targets(self) -> list[Target]:
        targets: list[Target] = []
        for server in self.trunk.servers:
            try:
                targets += await self.resolver.targets(server_uri(server, self.trunk))
            except DnsLookupError as exc:
                self.status.last_error = str(exc)
                self.status.note(str(exc))
                log.warning("trunk %s: %s", self.trunk.name, exc)
        return targets

    def _failed(self, target: Target, attempt: Attempt) -> None:
        self.status.failures += 1
        self.status.last_status = attempt.status
        self.status.last_error = attempt.reason
        self.status.expires_at = None
        self.status.note(f"{_label(target)}: {attempt.status} {attempt.reason}")
        log.warning("trunk %s: registration with %s failed: %s %s", self.trunk.name,
                    _label(target), attempt.status, attempt.reason)  # fmt: skip
        self._set(RegistrationState.FAILED, target)

    def _set(self, state: RegistrationState, target: Target | None) -> None:
        self.status.state = state
        self.status.server = _label(target) if target is not None else None
        self.changed.set()

    # -- one REGISTER (and its challenge) ------------------------------------------------

    async def _register(self, target: Target, expires: int) -> Attempt:
        self._current = target
        if self.status.state is not RegistrationState.REGISTERED:
            self._set(RegistrationState.REGISTERING, target)
        account = DigestAccount(username=self.auth.digest_user,
                                password=self.auth.password.get_secret_value(),
                                realm=self.auth.realm)  # fmt: skip
        session = DigestSession(account)
        authorization: list[tuple[str, str]] = []
        for _ in range(DigestSession.MAX_ANSWERS + 2):
            done = await self.awaiting.request(
                functools.partial(self._send, target, expires, list(authorization))
            )
            if done is None:
                return Attempt(status=503, reason="the channel is not running")
            response = done.response
            if response is None:
                return Attempt(status=408, reason="no response (timeout)")
            status = done.status
            if status in (401, 407):
                stub = SipMessage(method="REGISTER", uri=_request_uri(self.domain, target))
                header = session.authorize(stub, response)
                if header is None:
                    return Attempt(status=status, reason="credentials refused")
                authorization = [h for h in authorization if h[0] != header[0]] + [header]
                continue
            if status == 423:
                minimum = _int(response.headers.get("Min-Expires"))
                if minimum is None or minimum <= expires:
                    return Attempt(status=status, reason="interval too brief")
                expires = self._expires_s = minimum
                continue
            if status // 100 != 2:
                return Attempt(status=status, reason=response.reason)
            if expires == 0:
                return Attempt(status=status, granted_s=0)
            granted = self._granted(response, expires)
            self.status.registrations += 1
            self.status.failures = 0
            self.status.last_status = status
            self.status.last_error = None
            self.status.expires_at = self.driver.now() + granted
            self.status.note(f"registered with {_label(target)} for {granted} s")
            self._set(RegistrationState.REGISTERED, target)
            return Attempt(status=status, granted_s=granted)
        return Attempt(status=401, reason="too many challenges")

    def _contact(self, target: Target) -> str:
        ua = self.driver.ua
        host = self.trunk.public_host or ua.host
        user = contact_user(self.trunk) or self.auth.username
        transport = target.transport
        return f"<sip:{user}@{host}:{ua.local_port(transport)};transport={transport}>"

    def _send(self, target: Target, expires: int, authorization: list[tuple[str, str]]
              ) -> str | None:  # fmt: skip
        if not self.driver.started:
            return None
        self._cseq += 1
        if target.transport == "tls":
            self.driver.tls.expect((target.address, target.port), target.host, self.trunk.tls)
        call_id = self._call_ids.setdefault(target, f"{new_token(12)}@dipflow")
        headers = [
            ("From", f"<{self.aor}>;tag={self._from_tag}"), ("To", f"<{self.aor}>"),
            ("Call-ID", call_id), ("CSeq", f"{self._cseq} REGISTER"),
            ("Contact", self._contact(target)), ("Expires", str(expires)),
            *authorization,
        ]  # fmt: skip
        return self.driver.ua.send_request(
            method="REGISTER", uri=_request_uri(self.domain, target), headers=headers,
            destination=(target.address, target.port), transport=target.transport,
            now=self.driver.now(), local_host=self.trunk.public_host,
        )  # fmt: skip

    def _granted(self, response: SipMessage, asked: int) -> int:
        """§10.2.4: our Contact's `expires` in the 200, else its Expires header."""
        ours = self._contact(self._current) if self._current else ""
        our_uri = NameAddr.parse(ours).uri
        for value in response.headers.get_all("Contact"):
            try:
                contact = NameAddr.parse(value)
            except SipParseError:
                continue
            if _same_contact(contact.uri, our_uri):
                granted = _int(contact.params.get("expires"))
                if granted is not None:
                    return granted
        return _int(response.headers.get("Expires")) or asked


def _request_uri(domain: str, target: Target) -> str:
    transport = f";transport={target.transport}" if target.transport != "udp" else ""
    return f"sip:{domain}{transport}"


def _same_contact(a: str, b: str) -> bool:
    try:
        ua, ub = SipUri.parse(a), SipUri.parse(b)
    except SipParseError:
        return False
    return (ua.user, ua.host, ua.port or 5060) == (ub.user, ub.host, ub.port or 5060)


def _int(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit() or len(text.strip()) > 9:
        return None
    return int(text.strip())


def _label(target: Target) -> str:
    return f"{target.address}:{target.port}/{target.transport}"
