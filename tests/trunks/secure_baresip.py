"""baresip over TLS with SRTP (its `srtp` module, SDES keys): a test peer for secure calls."""

from __future__ import annotations

import asyncio
import math
import socket
from collections import Counter
from pathlib import Path

from dipflow.channels.sip.media import RtpSession
from tests.sip.baresip_peer import Baresip


class SecureBaresip(Baresip):
    """A baresip that trusts `ca_file` for SIP over TLS and loads the `srtp` module."""

    def __init__(self, workdir: Path, *, account: str, source_wav: Path, ca_file: Path) -> None:
        self.ca_file = ca_file
        super().__init__(workdir, account=account, source_wav=source_wav)

    def _write_config(self) -> None:
        super()._write_config()
        config = self.dir / "config"
        config.write_text(config.read_text() + f"sip_cafile {self.ca_file}\nmodule srtp.so\n")


class WireTap:
    """Every RTP datagram dipflow's sessions receive and send, as bytes on the wire (before
    SRTP is removed, after it is applied): the session class's socket callbacks are
    wrapped while the tap is installed; `restore()` undoes it."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.sent: list[bytes] = []
        self._receive = RtpSession.datagram_received
        self._made = RtpSession.connection_made
        original_receive, original_made, tap = self._receive, self._made, self

        def datagram_received(
            session: RtpSession, data: bytes, addr: tuple[str | int, ...]
        ) -> None:
            tap.received.append(data)
            original_receive(session, data, addr)

        def connection_made(session: RtpSession, transport: asyncio.BaseTransport) -> None:
            original_made(session, transport)
            assert session.transport is not None
            session.transport = _Recording(session.transport, tap.sent)  # type: ignore[assignment]

        def get_sock(session: RtpSession) -> _RecordingSocket | None:
            real = session.__dict__.get("_tapped_sock")
            return None if real is None else _RecordingSocket(real, tap.sent)

        def set_sock(session: RtpSession, sock: socket.socket | None) -> None:
            session.__dict__["_tapped_sock"] = sock

        RtpSession.datagram_received = datagram_received  # type: ignore[method-assign]
        RtpSession.connection_made = connection_made  # type: ignore[method-assign]
        # The pacer sends straight on the session's own socket (not through the transport):
        # a class-level property sees every packet that leaves that way too.
        RtpSession.sock = property(get_sock, set_sock)  # type: ignore[assignment]

    def restore(self) -> None:
        RtpSession.datagram_received = self._receive  # type: ignore[method-assign]
        RtpSession.connection_made = self._made  # type: ignore[method-assign]
        del RtpSession.sock


class _RecordingSocket:
    """A socket that keeps a copy of what it sends."""

    def __init__(self, real: socket.socket, log: list[bytes]) -> None:
        self._real = real
        self._log = log

    def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
        self._log.append(bytes(data))
        return self._real.sendto(data, addr)

    def send(self, data: bytes) -> int:  # once connected to the peer (watchdog.py)
        self._log.append(bytes(data))
        return self._real.send(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


class _Recording:
    """A datagram transport that keeps a copy of what it sends."""

    def __init__(self, real: asyncio.DatagramTransport, log: list[bytes]) -> None:
        self._real = real
        self._log = log

    def sendto(self, data: bytes, addr: tuple[str, int] | None = None) -> None:
        self._log.append(bytes(data))
        self._real.sendto(data, addr)

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def audio_payloads(datagrams: list[bytes]) -> list[bytes]:
    """The payloads of the audio packets (PT 0/8, or anything not telephone-event sized)."""
    payloads = []
    for data in datagrams:
        if len(data) < 12 or data[0] >> 6 != 2:
            continue
        payloads.append(data[12:])
    return payloads


def byte_entropy(chunks: list[bytes]) -> float:
    """Shannon entropy in bits per byte over all `chunks` (ciphertext: ~8)."""
    counts: Counter[int] = Counter()
    for chunk in chunks:
        counts.update(chunk)
    total = sum(counts.values())
    return -sum(n / total * math.log2(n / total) for n in counts.values())
