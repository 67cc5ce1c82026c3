"""SIP over TLS (RFC 3261 §26, RFC 5630): the listener, connections we open, certificates.

Layer 4 (channels). TLS 1.2 or newer both ways (`min_version`), certificates from PEM
files. `TlsTransport` adds to `SipTransports` (transport.py):

* a listener (default port 5061) whose connections frame SIP like TCP and report their
  messages as transport `tls` (so our answers go back over them, and Via says TLS);
* connections we open when the user agent sends to a TLS peer we have none with (a
  trunk's server, an agent's phone): the message waits while the handshake runs, then
  goes out; a failed connection is logged with its reason (the transaction's own timer
  then ends the request, and outbound.py fails over to the next target);
* the peer check per destination: a trunk says whether and against which CA and name
  to verify (`TrunkTls`); by default the system's CAs and the target's name.
  The handshake time of every connection we open is counted (`handshake_seconds`).

`self_signed` writes a certificate and key for a lab, the demo and the tests.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import ssl
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dipflow.channels.sip.events import Address, Outgoing
from dipflow.channels.sip.transport import SipTransports, TcpConnection
from dipflow.channels.sip.trunkconfig import TlsListener, TrunkTls

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def server_context(listener: TlsListener) -> ssl.SSLContext:
    """Our side of incoming TLS (and our client certificate for connections we open)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[listener.min_version]
    context.load_cert_chain(listener.cert_file, listener.key_file)
    if listener.ca_file:
        context.load_verify_locations(listener.ca_file)
        context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: clients must prove who they are
    return context


def client_context(
    peer: TrunkTls | None, listener: TlsListener | None, min_version: str = "1.2"
) -> ssl.SSLContext:
    """For a connection we open: verify the peer as `peer` says (default: verify against
    the system's CAs), present our certificate when we have one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = _VERSIONS[listener.min_version if listener else min_version]
    verify = peer.verify if peer is not None else True
    if verify:
        if peer is not None and peer.ca_file:
            context.load_verify_locations(peer.ca_file)
        else:
            context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if listener is not None:
        context.load_cert_chain(listener.cert_file, listener.key_file)
    return context


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerCheck:
    """How to check the TLS peer at one destination."""

    server_name: str
    """SNI and the name (or IP address) its certificate must carry."""
    context: ssl.SSLContext


class TlsTransport:
    """The TLS listener and the TLS connections we open (see the module docstring)."""

    def __init__(self, transports: SipTransports, listener: TlsListener | None) -> None:
        self.transports = transports
        self.listener = listener
        self._server: asyncio.Server | None = None
        self._server_context = server_context(listener) if listener else None
        self._default_client: ssl.SSLContext | None = None
        self._checks: dict[Address, PeerCheck] = {}
        self._pending: dict[Address, list[bytes]] = {}
        self._opened: list[TcpConnection] = []
        self.handshakes = 0
        self.handshake_seconds = 0.0
        """Connections we opened, and their total TCP connect + TLS handshake time."""
        self.recent_handshakes_s: deque[float] = deque(maxlen=1000)
        """The latest handshake times (benchmarks read percentiles from it)."""
        self.failures = 0
        transports.connect = self._connect_for

    async def listen(self, host: str) -> int | None:
        """Start the listener (when configured); its port."""
        if self.listener is None or self._server_context is None:
            return None
        loop = asyncio.get_running_loop()
        context = self._server_context
        self._server = await loop.create_server(
            lambda: TcpConnection(self.transports, "tls"), host, self.listener.port,
            ssl=context, reuse_address=True,
        )  # fmt: skip
        return int(self._server.sockets[0].getsockname()[1])

    def expect(self, destination: Address, server_name: str, peer: TrunkTls | None) -> None:
        """Check the peer at `destination` as `peer` says (a trunk's settings), by name."""
        context = client_context(peer, self.listener)
        name = peer.server_name if peer is not None and peer.server_name else server_name
        self._checks[destination] = PeerCheck(server_name=name, context=context)

    def _connect_for(self, out: Outgoing) -> None:
        if out.transport != "tls":
            log.warning("no %s connection to %s:%s; message dropped", out.transport,
                        *out.destination)  # fmt: skip
            return
        pending = self._pending.get(out.destination)
        if pending is not None:  # a handshake is under way: send once it is done
            pending.append(out.data)
            return
        self._pending[out.destination] = [out.data]
        asyncio.get_running_loop().create_task(self._open(out.destination))

    async def _open(self, destination: Address) -> None:
        check = self._checks.get(destination)
        if check is None:
            if self._default_client is None:
                self._default_client = client_context(None, self.listener)
            check = PeerCheck(server_name=destination[0], context=self._default_client)
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(
                    lambda: TcpConnection(self.transports, "tls"), destination[0],
                    destination[1], ssl=check.context, server_hostname=check.server_name,
                ),
                CONNECT_TIMEOUT_S,
            )  # fmt: skip
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            self.failures += 1
            dropped = self._pending.pop(destination, [])
            log.warning("TLS to %s:%s (%s) failed: %s; %d message(s) not sent",
                        destination[0], destination[1], check.server_name, exc or "timeout",
                        len(dropped))  # fmt: skip
            return
        took = time.perf_counter() - started
        self.handshakes += 1
        self.handshake_seconds += took
        self.recent_handshakes_s.append(took)
        self._opened.append(protocol)
        # Registered under the address we dialled (the socket's peer name is the same).
        self.transports.connections[destination] = protocol
        for data in self._pending.pop(destination, []):
            if protocol.transport is not None:
                protocol.transport.write(data)

    async def close(self) -> None:
        for protocol in self._opened:
            if protocol.transport is not None:
                protocol.transport.close()
        if self._server is not None:
            self._server.close()
            for connection in list(self.transports.connections.values()):
                if connection.label == "tls" and connection.transport is not None:
                    connection.transport.close()


def self_signed(
    cert_file: Path, key_file: Path, *, names: Sequence[str] = ("localhost", "127.0.0.1"),
    days: int = 825,
) -> None:  # fmt: skip
    """Write a self-signed certificate for `names` (DNS names and IP addresses in its
    subjectAltName) and its EC P-256 key, as PEM. For labs, the demo and tests only:
    peers must be told to trust it (or not to verify)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )  # fmt: skip
    key_file.chmod(0o600)
