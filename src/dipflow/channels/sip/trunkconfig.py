"""Configuration of SIP trunks: carriers, PBXs and SBCs dipflow exchanges calls with.

Layer 4 (channels). One pydantic model per concept, a docstring per field; `docs/trunks.md`
is the reference. A trunk lives under `sip.trunks` in `dipflow.yaml`:

```yaml
sip:
  trunks:
    - name: carrier
      servers: [{host: sip.carrier.example}]       # RFC 3263 picks transport and port
      auth: {kind: registration, username: "4930123", password: "${CARRIER_PASSWORD}"}
      dids: ["+4930123456"]
      caller_id: "+4930123456"
```
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

TrunkTransport = Literal["udp", "tcp", "tls"]
SrtpPolicy = Literal["off", "optional", "mandatory"]

_VISUAL = re.compile(r"[\s().\-/]")


def normalize_number(number: str) -> str:
    """A dialled number without visual separators (`+49 (30) 123-456` -> `+4930123456`)."""
    return _VISUAL.sub("", number.strip())


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrunkServer(_Strict):
    """One server (proxy, registrar, SBC) of a trunk."""

    host: str = Field(min_length=1, max_length=253)
    """A host name (resolved by DNS: NAPTR, SRV, A/AAAA as RFC 3263 says) or an IP address."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """With a port, DNS looks up only the address records (no NAPTR/SRV, RFC 3263 §4.2);
    without one, SRV records decide, else 5060 (5061 for TLS)."""
    transport: TrunkTransport | None = None
    """This server's transport; default: the trunk's `transport`, else RFC 3263 (NAPTR)."""


class Credentials(_Strict):
    """A digest account (RFC 3261 §22): for REGISTER and for challenged INVITEs."""

    username: str = Field(min_length=1, max_length=128)
    """The user of the account (the provider's "SIP username", often the main number)."""
    password: SecretStr
    """Give it as `${ENV_VAR}`, never in the file."""
    auth_username: str | None = Field(default=None, max_length=128)
    """The digest user when it differs from `username` (some providers' "auth ID")."""
    realm: str | None = None
    """Answer challenges only for this realm (none: any realm the trunk's servers send)."""

    @property
    def digest_user(self) -> str:
        return self.auth_username or self.username


class RegistrationAuth(Credentials):
    """dipflow REGISTERs to the trunk (RFC 3261 §10) and the provider sends calls to us."""

    kind: Literal["registration"] = "registration"
    domain: str | None = None
    """The domain of our address of record `sip:username@domain` (To/From of the REGISTER,
    From of our calls); default: the first server's host."""
    expires_s: int = Field(default=600, ge=60, le=86400)
    """The registration lifetime we ask for; the registrar may grant less."""
    refresh_fraction: float = Field(default=0.8, gt=0.1, lt=1.0)
    """Re-register when this fraction of the granted lifetime has passed (at least 5 s
    before expiry), so a lost REGISTER can be retried in time."""
    retry_min_s: float = Field(default=2.0, gt=0)
    """First back-off after a failed registration; doubled per failure (with jitter)."""
    retry_max_s: float = Field(default=300.0, gt=0)
    """Longest back-off between attempts."""
    contact_user: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.!~*'()+-]+$")
    """User part of the Contact we register; calls arriving for it belong to this trunk.
    Default: `username`."""


class IpTrustAuth(_Strict):
    """The trunk's servers send calls from known addresses; nothing is registered."""

    kind: Literal["ip"] = "ip"
    addresses: tuple[str, ...] = ()
    """Addresses or networks (`192.0.2.10`, `198.51.100.0/24`) calls of this trunk come from.
    Empty: the addresses of `servers` (IP literals, or host names resolved at start)."""
    credentials: Credentials | None = None
    """Digest account for the provider's challenges to our outbound INVITEs (401/407)."""
    inbound: Credentials | None = None
    """Challenge the trunk's INVITEs (407) and take them only with this account, for
    providers that authenticate to us by digest as well as by address."""

    @field_validator("addresses")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an IP address or network") from exc
        return value


TrunkAuth = Annotated[RegistrationAuth | IpTrustAuth, Field(discriminator="kind")]


class TrunkTls(_Strict):
    """TLS towards this trunk (`transport: tls`)."""

    verify: bool = True
    """Check the server's certificate chain and name (turn off only for a lab peer)."""
    ca_file: str | None = None
    """PEM bundle of the CAs to trust for this trunk (default: the system's store)."""
    server_name: str | None = None
    """The name the certificate must carry (default: the server's host)."""


class TrunkSettings(_Strict):
    """One trunk: where it is, how we authenticate, which numbers it brings, what we send."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    """Referred to in logs, metrics (`trunk` label) and `tel:` URIs (`;trunk=NAME`)."""
    servers: tuple[TrunkServer, ...] = Field(min_length=1)
    """The trunk's servers in order of preference: registration and calls fail over to the
    next one (and to the next DNS target of each) on timeout, transport error or 503."""
    transport: TrunkTransport | None = None
    """Default transport of the servers; none: RFC 3263 decides (NAPTR, else UDP)."""
    auth: TrunkAuth
    """`registration` (we REGISTER with digest) or `ip` (calls accepted from its addresses)."""
    dids: tuple[str, ...] = ()
    """Numbers (DIDs) this trunk brings in. Each runs the flow whose `flows[].dnis` lists it
    (written as here); a call for another number from this trunk gets 404. On an `ip`
    trunk, a call for one of these numbers from any other address gets 403."""
    dnis_from: Literal["request-uri", "to"] | None = None
    """Where the dialled number is read: the Request-URI user (usual for `ip` trunks) or
    the To user (usual for `registration` trunks, which send to our registered Contact).
    Default: `to` for registration, `request-uri` for ip."""
    caller_id: str | None = Field(default=None, max_length=32)
    """The number our outbound calls present (From user and P-Asserted-Identity) when the
    flow sets none. Providers refuse numbers not assigned to the account."""
    caller_name: str | None = Field(default=None, max_length=64)
    """Display name of our outbound calls."""
    outbound: bool = True
    """Calls to numbers (`tel:` URIs, agents on external numbers, callbacks, transfers)
    may go out through this trunk; the first such trunk is the default."""
    dial_prefix: str = Field(default="", max_length=16, pattern=r"^[0-9+*#]*$")
    """Prepended to every number we dial through this trunk (e.g. `0` for an outside line)."""
    strip_plus: bool = False
    """Dial `+4930...` as `4930...` (providers that want E.164 without the plus)."""
    codecs: tuple[Literal["PCMU", "PCMA"], ...] | None = None
    """Codecs for this trunk's calls, in order of preference; default: the channel's."""
    srtp: SrtpPolicy = "off"
    """SDES-keyed SRTP (RFC 4568) on this trunk's calls: `mandatory` (RTP/SAVP only; a
    plain offer gets 488), `optional` (offer RTP/AVP with keys, accept either) or `off`.
    Keys travel only over TLS: anything but `off` needs `transport: tls`."""
    tls: TrunkTls = Field(default_factory=TrunkTls)
    """Certificate checks of this trunk's TLS servers."""
    public_host: str | None = None
    """The address to write into Via/Contact/SDP towards this trunk (our NAT's public
    address); default: the channel's `advertised_host`."""
    keepalive: Literal["none", "crlf", "options"] = "none"
    """Keep NAT bindings and connections open: `crlf` (RFC 5626 double CRLF on TCP/TLS),
    `options` (an OPTIONS ping, any transport; a failed ping marks the server down)."""
    keepalive_interval_s: float = Field(default=30.0, ge=5.0, le=3600.0)
    """Interval of the keep-alive."""

    @field_validator("dids")
    @classmethod
    def _dids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for number in value:
            if not re.fullmatch(r"\+?[0-9*#]{1,32}", normalize_number(number)):
                raise ValueError(f"DID {number!r} is not a number (digits, an optional +)")
        return value

    @model_validator(mode="after")
    def _srtp_needs_tls(self) -> TrunkSettings:
        if self.srtp != "off":
            transports = {s.transport or self.transport for s in self.servers}
            if transports != {"tls"}:
                raise ValueError(
                    "srtp needs transport: tls on every server of the trunk "
                    "(SDES keys are never sent over an unencrypted transport, RFC 4568 §8.3)"
                )
        return self

    @property
    def number_source(self) -> Literal["request-uri", "to"]:
        if self.dnis_from is not None:
            return self.dnis_from
        return "to" if isinstance(self.auth, RegistrationAuth) else "request-uri"

    @property
    def credentials(self) -> Credentials | None:
        """The account answering digest challenges for this trunk, if any."""
        if isinstance(self.auth, RegistrationAuth):
            return self.auth
        return self.auth.credentials

    def dial_string(self, number: str) -> str:
        """`number` as this trunk wants it dialled."""
        digits = normalize_number(number)
        if self.strip_plus:
            digits = digits.removeprefix("+")
        return self.dial_prefix + digits


def check_trunks(trunks: tuple[TrunkSettings, ...]) -> None:
    """Names unique, and no DID brought by two trunks (which flow would run?)."""
    names: set[str] = set()
    owner: dict[str, str] = {}
    for trunk in trunks:
        if trunk.name in names:
            raise ValueError(f"two trunks are named {trunk.name!r}")
        names.add(trunk.name)
        for did in trunk.dids:
            key = normalize_number(did).removeprefix("+")
            if key in owner:
                raise ValueError(f"DID {did!r} is on trunks {owner[key]!r} and {trunk.name!r}")
            owner[key] = trunk.name


class TlsListener(_Strict):
    """The channel's TLS (SIPS) listener and the certificate it presents (RFC 3261 §26.2,
    RFC 5630); also the client certificate towards trunks that ask for one."""

    port: int = Field(default=5061, ge=0, le=65535)
    """TLS port; 0 picks a free one (tests)."""
    cert_file: str
    """PEM certificate chain (ours first). `dipflow.channels.sip.tls.self_signed` writes
    a self-signed pair for a lab or the demo."""
    key_file: str
    """PEM private key of `cert_file`."""
    ca_file: str | None = None
    """PEM bundle of CAs whose clients' certificates we check (mutual TLS); none: clients
    are not asked for a certificate (IP trust and digest still apply)."""
    min_version: Literal["1.2", "1.3"] = "1.2"
    """Oldest TLS version accepted, both ways."""
    srtp: SrtpPolicy = "optional"
    """SRTP for calls over TLS that belong to no trunk (phones, agents): `optional` takes
    and offers keys, `mandatory` refuses plain RTP, `off` never encrypts media."""
