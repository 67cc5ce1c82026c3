"""Which trunk a call belongs to, and which trunk and targets a call out takes. Layer 4 (channels).

`TrunkTable.admit(request, source)` decides for a new INVITE:

* from an address of an `ip` trunk: that trunk's call, for its DIDs only (another number
  from it gets 404); when the trunk has an `inbound` account, only with its digest
  credentials (else 407 with a challenge: stateless HMAC nonces, registrar.py);
* to the Contact user a `registration` trunk registered: that trunk's call;
* for a DID of a trunk but not through that trunk (a stranger calling a carrier's number
  directly): 403, so a trunk's numbers cannot be reached around its checks;
* anything else is not a trunk call (a phone or PBX calling dipflow directly, as before).

The dialled number handed to the flow is the DID as written in the configuration, so
`flows[].dnis` matches it whatever form the carrier sends (`+4930...`, `4930...`).

`TrunkTable.route(destination)` picks the trunk and Request-URI of a call out: a
`tel:` URI or a bare number goes through the trunk named by `;trunk=NAME` or the first
`outbound` trunk; a `sip:` URI goes where it says (DNS per RFC 3263).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from dipflow.channels.sip.dns import DnsLookupError, SipResolver, Target
from dipflow.channels.sip.message import NameAddr, SipMessage, SipParseError, SipUri
from dipflow.channels.sip.registrar import Registrar
from dipflow.channels.sip.trunkconfig import (
    IpTrustAuth,
    RegistrationAuth,
    TrunkServer,
    TrunkSettings,
    normalize_number,
)

log = logging.getLogger(__name__)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True, kw_only=True)
class Admitted:
    """A call to run: `trunk` None for a direct (non-trunk) call; `dnis` the number."""

    trunk: TrunkSettings | None
    dnis: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    status: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """Answer 407 with this `Proxy-Authenticate` value (the trunk wants digest from us)."""

    proxy_authenticate: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """Where a call out goes: `request_uri` to `targets` in order (failover)."""

    trunk: TrunkSettings | None
    request_uri: str
    targets: list[Target]


def did_key(number: str) -> str:
    """The form DIDs are compared in: separators and a leading + dropped."""
    return normalize_number(number).removeprefix("+")


def server_uri(server: TrunkServer, trunk: TrunkSettings, user: str = "") -> str:
    """A SIP URI naming `server` (its transport and port when configured)."""
    transport = server.transport or trunk.transport
    scheme = "sip"
    host = f"[{server.host}]" if ":" in server.host else server.host
    port = f":{server.port}" if server.port else ""
    param = f";transport={transport}" if transport else ""
    at = f"{user}@" if user else ""
    return f"{scheme}:{at}{host}{port}{param}"


def registration_domain(trunk: TrunkSettings) -> str:
    auth = trunk.auth
    if isinstance(auth, RegistrationAuth) and auth.domain:
        return auth.domain
    return trunk.servers[0].host


def contact_user(trunk: TrunkSettings) -> str | None:
    auth = trunk.auth
    if isinstance(auth, RegistrationAuth):
        return auth.contact_user or auth.username
    return None


class TrunkTable:
    """The configured trunks, their trusted networks and DIDs."""

    def __init__(self, trunks: tuple[TrunkSettings, ...], resolver: SipResolver) -> None:
        self.trunks = trunks
        self.resolver = resolver
        self.by_name = {t.name: t for t in trunks}
        self._networks: dict[str, list[IpNetwork]] = {t.name: [] for t in trunks}
        self._dids: dict[str, tuple[TrunkSettings, str]] = {
            did_key(did): (trunk, did) for trunk in trunks for did in trunk.dids
        }
        self._contact_users = {
            user: trunk for trunk in trunks if (user := contact_user(trunk)) is not None
        }
        self._verifiers = {
            trunk.name: Registrar(
                realm=trunk.auth.inbound.realm or "dipflow",
                users={trunk.auth.inbound.digest_user:
                       trunk.auth.inbound.password.get_secret_value()},
                max_expires_s=3600,
            )
            for trunk in trunks
            if isinstance(trunk.auth, IpTrustAuth) and trunk.auth.inbound is not None
        }  # fmt: skip

    async def start(self) -> None:
        """Resolve the addresses of `ip` trunks given by name (once, at start: a call's
        admission never waits on DNS)."""
        for trunk in self.trunks:
            if isinstance(trunk.auth, IpTrustAuth):
                await self.refresh_networks(trunk)

    async def refresh_networks(self, trunk: TrunkSettings) -> None:
        auth = trunk.auth
        assert isinstance(auth, IpTrustAuth)
        networks: list[IpNetwork] = [ipaddress.ip_network(a, strict=False) for a in auth.addresses]
        if not networks:
            for server in trunk.servers:
                try:
                    for address in await self.resolver.addresses(server.host):
                        networks.append(ipaddress.ip_network(address))
                except DnsLookupError as exc:
                    log.warning("trunk %s: cannot resolve %s: %s", trunk.name, server.host, exc)
        self._networks[trunk.name] = networks

    def networks(self, trunk: TrunkSettings) -> list[IpNetwork]:
        return self._networks.get(trunk.name, [])

    def trunk_of_source(self, ip: str) -> TrunkSettings | None:
        """The `ip` trunk whose addresses include `ip`."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for trunk in self.trunks:
            if isinstance(trunk.auth, IpTrustAuth) and any(
                address in network for network in self._networks[trunk.name]
            ):
                return trunk
        return None

    def admit(
        self, request: SipMessage, source_ip: str, now: float = 0.0
    ) -> Admitted | Refused | Challenge:
        """Whose call a new INVITE is, and its number (see the module docstring)."""
        uri_user = _user(request.uri)
        to_user = _user(_uri_of(request.headers.get("To")))
        trunk = self.trunk_of_source(source_ip)
        if trunk is None and uri_user in self._contact_users:
            trunk = self._contact_users[uri_user]
        if trunk is not None:
            verifier = self._verifiers.get(trunk.name)
            if verifier is not None and verifier.authenticate(
                request, now, header_name="Proxy-Authorization"
            ) is None:  # fmt: skip
                return Challenge(proxy_authenticate=verifier.challenge(now))
            number = to_user if trunk.number_source == "to" else uri_user
            owned = self._dids.get(did_key(number))
            if owned is not None and owned[0] is trunk:
                return Admitted(trunk=trunk, dnis=owned[1])
            if not trunk.dids:
                return Admitted(trunk=trunk, dnis=number)  # a trunk that names no DIDs
            return Refused(status=404, reason=f"{number!r} is not a DID of trunk {trunk.name}")
        owned = self._dids.get(did_key(uri_user))
        if owned is not None:
            return Refused(
                status=403,
                reason=f"{uri_user!r} belongs to trunk {owned[0].name}; "
                f"{source_ip} is not one of its addresses",
            )
        return Admitted(trunk=None, dnis=uri_user)

    # -- calls out -------------------------------------------------------------------

    def outbound_trunk(self, name: str | None = None) -> TrunkSettings | None:
        if name is not None:
            return self.by_name.get(name)
        return next((t for t in self.trunks if t.outbound), None)

    async def route(self, destination: str) -> Route:
        """The trunk, Request-URI and targets for calling `destination` (a number, a
        `tel:` URI, or a `sip:`/`sips:` URI). `LookupError` when it cannot be reached."""
        text = destination.strip()
        if text.lower().startswith(("sip:", "sips:")):
            try:
                uri = SipUri.parse(text)
            except SipParseError as exc:
                raise LookupError(f"not a SIP URI: {text[:80]!r}") from exc
            trunk = self.by_name.get(uri.host)
            if trunk is None:
                targets = await self.resolver.targets(text)
                return Route(trunk=None, request_uri=text, targets=targets)
            return await self._through(trunk, uri.user)  # sip:NUMBER@TRUNKNAME
        trunk_name: str | None = None
        number = text
        if text.lower().startswith("tel:"):
            tel = SipUri.parse(text)
            number = tel.user
            trunk_name = tel.params.get("trunk")
        trunk = self.outbound_trunk(trunk_name)
        if trunk is None:
            missing = f"no trunk named {trunk_name!r}" if trunk_name else "no outbound trunk"
            raise LookupError(missing)
        return await self._through(trunk, number)

    async def _through(self, trunk: TrunkSettings, number: str) -> Route:
        dial = trunk.dial_string(number)
        if not dial or not all(c.isdigit() or c in "+*#" for c in dial):
            raise LookupError(f"{number!r} is not a number to dial")
        targets: list[Target] = []
        for server in trunk.servers:
            try:
                targets += await self.resolver.targets(server_uri(server, trunk))
            except DnsLookupError as exc:
                log.warning("trunk %s: %s", trunk.name, exc)
        if not targets:
            raise LookupError(f"trunk {trunk.name}: no server could be resolved")
        domain = registration_domain(trunk)
        transport = trunk.transport or trunk.servers[0].transport
        scheme_uri = f"sip:{dial}@{domain}" + (";transport=tls" if transport == "tls" else "")
        return Route(trunk=trunk, request_uri=scheme_uri, targets=targets)


def _uri_of(header: str | None) -> str | None:
    if not header:
        return None
    try:
        return NameAddr.parse(header).uri
    except SipParseError:
        return None


def _user(uri: str | None) -> str:
    if not uri:
        return ""
    try:
        return SipUri.parse(uri).user
    except SipParseError:
        return ""
