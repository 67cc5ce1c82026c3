"""Locating SIP servers (RFC 3263 §4): NAPTR, SRV (RFC 2782), A/AAAA. Layer 4 (channels).

`SipResolver.targets(uri)` turns a SIP URI into the ordered list of (address, port,
transport) to try; the caller moves to the next target on a timeout, a transport error or
a 503 (RFC 3263 §4.3). Lookups go through dnspython's asyncio resolver with its TTL cache
(an answer is reused until its TTL runs out), so a busy trunk costs one query per TTL.

Decisions (RFC 3263 §4.1/4.2):
* an IP address is used as it is (port: the URI's, else 5060, 5061 for TLS);
* a host with a port: address records only, transport from the URI or UDP (TLS for sips);
* a host with a `transport` parameter: the SRV of that transport, else address records;
* otherwise NAPTR (SIP+D2U, SIP+D2T, SIPS+D2T, by order then preference; only SIPS+D2T
  for a sips: URI), else SRV for each transport we support, else address records over UDP.
Within one SRV priority, targets are ordered by a weighted random draw (RFC 2782); a
target of "." means the service is not offered there.
"""

from __future__ import annotations

import ipaddress
import logging
import random
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.resolver
from dns.rdtypes.IN.NAPTR import NAPTR
from dns.rdtypes.IN.SRV import SRV

from dipflow.channels.sip.message import SipParseError, SipUri

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}
_NAPTR_SERVICES = {"SIP+D2U": "udp", "SIP+D2T": "tcp", "SIPS+D2T": "tls"}
_SRV_PREFIX = {"udp": "_sip._udp.", "tcp": "_sip._tcp.", "tls": "_sips._tcp."}


class DnsLookupError(LookupError):
    """No target could be found for a URI (NXDOMAIN, no records, resolver unreachable)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One place to send a request: `address` is an IP address."""

    address: str
    port: int
    transport: str
    host: str
    """The name the target came from (the TLS server name to check)."""


def uri_transport(uri: SipUri) -> str | None:
    """The transport a URI asks for (sips: is TLS, RFC 3261 §26.2.2); None: not stated."""
    param = uri.params.get("transport", "").lower()
    if uri.scheme == "sips":
        return "tls"
    if param in ("udp", "tcp", "tls"):
        return param
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def weighted_order(records: list[SRV], rng: random.Random) -> list[SRV]:
    """RFC 2782: by priority; within a priority a weighted random draw without replacement
    (weight 0 records keep a small chance, placed first in the draw list as the RFC says)."""
    ordered: list[SRV] = []
    for priority in sorted({r.priority for r in records}):
        pool = sorted((r for r in records if r.priority == priority), key=lambda r: r.weight)
        while pool:
            total = sum(r.weight for r in pool)
            pick = rng.uniform(0, total) if total else 0.0
            running = 0
            chosen = pool[0]
            for record in pool:
                running += record.weight
                if running >= pick:
                    chosen = record
                    break
            ordered.append(chosen)
            pool.remove(chosen)
    return ordered


class SipResolver:
    """RFC 3263 on dnspython's asyncio resolver, answers cached for their TTL."""

    def __init__(
        self,
        nameservers: tuple[str, ...] = (),
        *,
        timeout_s: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if nameservers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [n.rsplit(":", 1)[0] if _has_port(n) else n
                                    for n in nameservers]  # fmt: skip
            ports = {int(n.rsplit(":", 1)[1]) for n in nameservers if _has_port(n)}
            if len(ports) > 1:
                raise ValueError("all DNS servers must use the same port")
            if ports:
                resolver.port = ports.pop()
        else:
            try:
                resolver = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = ["127.0.0.1"]
        resolver.lifetime = timeout_s
        resolver.timeout = timeout_s
        resolver.cache = dns.resolver.Cache()
        self._resolver = resolver
        self._rng = rng or random.Random()

    async def targets(self, uri_text: str, *, transports: tuple[str, ...] = ("udp", "tcp", "tls"),
                      ) -> list[Target]:  # fmt: skip
        """The targets for `uri_text` in the order to try them; `DnsLookupError` if none."""
        try:
            uri = SipUri.parse(uri_text)
        except SipParseError as exc:
            raise DnsLookupError(f"not a SIP URI: {uri_text[:80]!r}") from exc
        host = uri.params.get("maddr") or uri.host
        wanted = uri_transport(uri)
        secure = uri.scheme == "sips"
        if _is_ip(host):
            transport = wanted or "udp"
            return [Target(address=host, port=uri.port or DEFAULT_PORTS[transport],
                           transport=transport, host=host)]  # fmt: skip
        if uri.port is not None:
            transport = wanted or "udp"
            return await self._address_targets(host, uri.port, transport)
        if wanted is not None:
            found = await self._srv_targets(_SRV_PREFIX[wanted] + host, wanted)
            return found or await self._address_targets(host, DEFAULT_PORTS[wanted], wanted)
        for service_name, transport in await self._naptr(host, secure, transports):
            found = await self._srv_targets(service_name, transport)
            if found:
                return found
        for transport in ("tls",) if secure else transports:
            found = await self._srv_targets(_SRV_PREFIX[transport] + host, transport)
            if found:
                return found
        transport = "tls" if secure else "udp"
        return await self._address_targets(host, DEFAULT_PORTS[transport], transport)

    # -- the record types ---------------------------------------------------------------

    async def _query(self, name: str, rdtype: str) -> list[object]:
        try:
            answer = await self._resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as exc:  # timeout, no server answered
            raise DnsLookupError(f"DNS {rdtype} {name}: {exc}") from exc
        return list(answer)

    async def _naptr(
        self, host: str, secure: bool, transports: tuple[str, ...]
    ) -> list[tuple[str, str]]:
        """(SRV name, transport) from NAPTR records we can use, in their order."""
        records = [r for r in await self._query(host, "NAPTR") if isinstance(r, NAPTR)]
        usable: list[tuple[int, int, str, str]] = []
        for record in records:
            service = record.service.decode(errors="replace").upper()
            transport = _NAPTR_SERVICES.get(service)
            if transport is None or transport not in transports or record.flags.lower() != b"s":
                continue
            if secure and transport != "tls":
                continue
            usable.append((record.order, record.preference,
                           record.replacement.to_text(omit_final_dot=True), transport))  # fmt: skip
        usable.sort(key=lambda u: (u[0], u[1]))
        return [(name, transport) for _, _, name, transport in usable]

    async def _srv_targets(self, name: str, transport: str) -> list[Target]:
        records = [r for r in await self._query(name, "SRV") if isinstance(r, SRV)]
        targets: list[Target] = []
        for record in weighted_order(records, self._rng):
            host = record.target.to_text(omit_final_dot=True)
            if host in ("", "."):
                continue  # "service decidedly not available" (RFC 2782)
            try:
                targets += await self._address_targets(host, record.port, transport)
            except DnsLookupError as exc:
                log.warning("%s", exc)  # one dead name does not hide the others
        return targets

    async def _address_targets(self, host: str, port: int, transport: str) -> list[Target]:
        if _is_ip(host):
            return [Target(address=host, port=port, transport=transport, host=host)]
        addresses: list[str] = []
        for rdtype in ("A", "AAAA"):
            addresses += [str(r) for r in await self._query(host, rdtype)]
        if not addresses:
            raise DnsLookupError(f"{host} has no address records")
        return [Target(address=a, port=port, transport=transport, host=host) for a in addresses]

    async def addresses(self, host: str) -> list[str]:
        """The IP addresses of `host` (itself when it is one)."""
        if _is_ip(host):
            return [host]
        return [t.address for t in await self._address_targets(host, 0, "udp")]


def _has_port(server: str) -> bool:
    return server.count(":") == 1  # host:port (IPv6 nameservers are given without a port)
