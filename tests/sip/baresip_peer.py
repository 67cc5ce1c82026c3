"""A baresip softphone as a test peer: config in a temp dir, ctrl_tcp (netstring JSON) control,
audio from a WAV (aufile), what it hears recorded by the sndfile module."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import socket
from array import array
from pathlib import Path

from dipflow.media import Pcm, wav_bytes
from tests.sip.sip_host import free_port

MODULES = Path("/usr/lib/baresip/modules")


def tone_wav(path: Path, frequency: float, seconds: float = 60.0, amplitude: int = 8000) -> Path:
    values = array(
        "h",
        (
            int(amplitude * math.sin(2 * math.pi * frequency * n / 8000))
            for n in range(int(8000 * seconds))
        ),
    )
    path.write_bytes(wav_bytes(Pcm.from_array(values, 8000)))
    return path


def free_port_at(port: int) -> int:
    """`port` if it is free on loopback for UDP and TCP, else OSError."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
    ):
        tcp.bind(("127.0.0.1", port))
        udp.bind(("127.0.0.1", port))
    return port


class Baresip:
    """One baresip process. Use `async with Baresip(...) as phone:`."""

    def __init__(self, workdir: Path, *, account: str, source_wav: Path) -> None:
        binary = shutil.which("baresip") or "/usr/bin/baresip"
        assert Path(binary).exists(), "baresip is required for these tests"
        self.binary = binary
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.records = self.dir / "records"
        self.records.mkdir(exist_ok=True)
        self.source_wav = source_wav
        self._choose_ports()
        (self.dir / "accounts").write_text(account + "\n")
        (self.dir / "contacts").write_text("")
        self.process: asyncio.subprocess.Process | None = None
        self.events: list[dict[str, object]] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task[None] | None = None
        self.log = self.dir / "baresip.log"

    def _choose_ports(self) -> None:
        # baresip listens for TLS on the port after `sip_listen`: both must be free.
        while True:
            self.sip_port = free_port()
            try:
                free_port_at(self.sip_port + 1)
            except OSError:
                continue
            break
        self.ctrl_port = free_port(kind=1)
        self.rtp = 40000 + (free_port() % 5000) * 2
        self._write_config()

    def _write_config(self) -> None:
        (self.dir / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{self.sip_port}",
                    "net_interface 127.0.0.1",
                    "call_local_timeout 120",
                    "call_max_calls 4",
                    "audio_player aubridge,nowhere",
                    f"audio_source aufile,{self.source_wav}",
                    "audio_alert aubridge,nowhere",
                    "ausrc_srate 8000",
                    "auplay_srate 8000",
                    "ausrc_channels 1",
                    "auplay_channels 1",
                    f"rtp_ports {self.rtp}-{self.rtp + 20}",
                    f"module_path {MODULES}",
                    "module g711.so",
                    "module aufile.so",
                    "module aubridge.so",
                    "module sndfile.so",
                    f"snd_path {self.records}",
                    "module_tmp account.so",
                    "module_app menu.so",
                    "module_app ctrl_tcp.so",
                    f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
                    "",
                ]
            )
        )

    async def __aenter__(self) -> Baresip:
        # Ports are reserved by closing a probe socket, so another process can still take
        # one before baresip binds it: on "Address already in use", start again elsewhere.
        for _ in range(3):
            if await self._start():
                return self
            if "Address already in use" not in self.log.read_text(errors="replace"):
                break
            self._choose_ports()
        raise RuntimeError(f"baresip did not start: {self.log.read_text()[-2000:]}")

    async def _start(self) -> bool:
        log = self.log.open("wb")
        self.process = await asyncio.create_subprocess_exec(
            self.binary, "-f", str(self.dir), stdout=log, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        for _ in range(100):
            if self.process.returncode is not None:
                break
            try:
                self._reader, self._writer = await asyncio.open_connection(
                    "127.0.0.1", self.ctrl_port
                )
            except OSError:
                await asyncio.sleep(0.1)
                continue
            self._pump = asyncio.get_running_loop().create_task(self._read_events())
            return True
        await self.__aexit__()
        self.process = None
        return False

    async def __aexit__(self, *exc: object) -> None:
        if self._pump is not None:
            self._pump.cancel()
        if self._writer is not None:
            self._writer.close()
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    async def command(self, command: str, params: str = "") -> None:
        assert self._writer is not None
        payload = json.dumps({"command": command, "params": params, "token": command}).encode()
        self._writer.write(b"%d:%s," % (len(payload), payload))
        await self._writer.drain()

    async def _read_events(self) -> None:
        assert self._reader is not None
        while True:
            length = await self._reader.readuntil(b":")
            body = await self._reader.readexactly(int(length[:-1]))
            await self._reader.readexactly(1)  # the netstring's trailing comma
            try:
                self.events.append(json.loads(body))
            except ValueError:
                continue

    async def wait_event(self, kind: str, within_s: float = 15.0) -> dict[str, object]:
        async with asyncio.timeout(within_s):
            while True:
                for event in self.events:
                    if event.get("type") == kind:
                        return event
                await asyncio.sleep(0.05)

    def recording(self, suffix: str = "dec") -> Path:
        """The WAV of what this phone heard (sndfile writes dump-<time>-<enc|dec>.wav)."""
        files = sorted(self.records.glob(f"*-{suffix}.wav"))
        assert files, f"no recording in {self.records}: {self.log.read_text()[-2000:]}"
        return files[-1]
