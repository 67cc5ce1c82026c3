"""linphone's console softphone (`linphonec`) as a TLS + SRTP caller, driven through a
pseudo-terminal (it wants one): it plays a WAV as its microphone and records what it hears.

Debian's linphonec sets its root CA path to /etc/ssl/certs whatever the configuration
says, so it cannot be told to trust a test certificate: it is run with
`verify_server_certs=0` (the certificate checks are exercised with baresip and Python's
ssl instead). Everything else is as a user would configure it: TLS transport, SRTP
mandatory, RFC 4733 digits."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import shutil
from pathlib import Path

from tests.sip.sip_host import free_port


class LinphoneTls:
    def __init__(self, workdir: Path, *, source_wav: Path) -> None:
        binary = shutil.which("linphonec")
        assert binary, "linphonec (Debian package linphone-cli) is required for these tests"
        self.binary = binary
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.source_wav = source_wav
        self.recording = self.dir / "heard.wav"
        self.log = self.dir / "linphone.log"
        self.output = bytearray()
        self.process: asyncio.subprocess.Process | None = None
        self._master: int | None = None

    def _rc(self) -> Path:
        sip_port, rtp_port = free_port(), free_port(even=True)
        rc = self.dir / "linphonerc"
        rc.write_text(
            "\n".join([
                "[sip]", f"sip_port={sip_port}", "sip_tcp_port=0", f"sip_tls_port={sip_port + 1}",
                "bind_address=127.0.0.1", "verify_server_certs=0", "verify_server_cn=0",
                "media_encryption=srtp", "media_encryption_mandatory=1", "use_rfc2833=1",
                "use_info=0", "[rtp]", f"audio_rtp_port={rtp_port}", "bind_address=127.0.0.1",
                "[sound]", "echocancellation=0", "agc=0",
                "[video]", "enabled=0", "capture=0", "display=0",
                "[net]", "firewall_policy=0", "",
            ])
        )  # fmt: skip
        return rc

    async def __aenter__(self) -> LinphoneTls:
        home = self.dir / "home"
        (home / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)
        master, slave = pty.openpty()
        self.process = await asyncio.create_subprocess_exec(
            self.binary, "-c", str(self._rc()), "-d", "5", "-l", str(self.log),
            stdin=slave, stdout=slave, stderr=slave, env={**os.environ, "HOME": str(home)},
        )  # fmt: skip
        os.close(slave)
        self._master = master
        asyncio.get_running_loop().add_reader(master, self._read)
        await self.wait_for("linphonec> ")
        await self.send("soundcard use files")
        await self.wait_for("Using wav files instead of soundcard")
        await self.send(f"play {self.source_wav}")
        await self.send(f"record {self.recording}")
        return self

    def _read(self) -> None:
        assert self._master is not None
        try:
            self.output += os.read(self._master, 65536)
        except OSError:  # the process has gone: its end of the terminal is closed
            asyncio.get_running_loop().remove_reader(self._master)

    async def send(self, line: str) -> None:
        assert self._master is not None
        os.write(self._master, (line + "\n").encode())
        await asyncio.sleep(0.2)

    async def wait_for(self, text: str, within_s: float = 15.0) -> None:
        async with asyncio.timeout(within_s):
            while text.encode() not in self.output:  # noqa: ASYNC110 - filled by the reader
                await asyncio.sleep(0.05)

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(OSError):
                await self.send("quit")
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._master is not None:
            asyncio.get_running_loop().remove_reader(self._master)
            os.close(self._master)
