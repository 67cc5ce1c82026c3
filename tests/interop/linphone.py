"""linphone's console softphone (`linphonec`, Debian `linphone-cli`) as a test peer.

It runs headless in tmux (it wants a terminal), plays a WAV as its microphone and records
what it hears (`soundcard use files`, `play`, `record`). Its configuration file selects how
it sends digits (RFC 4733 events, SIP INFO or in-band tones) and whether it makes a late
offer (INVITE without SDP, offer in the 200, answer in the ACK).

What linphone 5.1 needs that is not obvious: its data directory
(`$HOME/.local/share/linphone`) must exist before it starts, else it never opens its SIP
port; and `bind_address` in both `[sip]` and `[rtp]` keeps it off every other interface."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from tests.interop.tmux import ConsoleError, TmuxConsole
from tests.sip.sip_host import free_port

Transport = Literal["udp", "tcp"]


class DigitMode(StrEnum):
    """How linphone sends a key press."""

    RFC4733 = "rfc4733"  # telephone-event RTP packets
    SIP_INFO = "info"  # INFO with application/dtmf-relay
    INBAND = "inband"  # DTMF tones mixed into the audio


@dataclass(frozen=True)
class Registration:
    """REGISTER with a registrar (dipflow, or a proxy in front of it) as `user`."""

    registrar: tuple[str, int]
    user: str
    password: str
    domain: str = "dipflow"
    transport: Transport = "udp"
    expires_s: int = 60


@dataclass(frozen=True)
class LinphoneConfig:
    sip_port: int
    rtp_port: int
    bind_address: str = "127.0.0.1"
    digits: DigitMode = DigitMode.RFC4733
    late_offer: bool = False
    registration: Registration | None = None
    auto_answer: bool = False

    def rc_text(self) -> str:
        """The linphonerc this configuration stands for."""
        sip = [
            "[sip]",
            f"sip_port={self.sip_port}",
            # The same port number for TCP (the transports are separate sockets); TLS off.
            f"sip_tcp_port={self.sip_port}",
            "sip_tls_port=0",
            f"bind_address={self.bind_address}",
            f"use_info={int(self.digits is DigitMode.SIP_INFO)}",
            f"use_rfc2833={int(self.digits is DigitMode.RFC4733)}",
            f"sdp_200_ack={int(self.late_offer)}",
            "register_only_when_network_is_up=0",
            "inc_timeout=60",
            f"default_proxy={0 if self.registration else -1}",
        ]
        rtp = [
            "[rtp]",
            f"audio_rtp_port={self.rtp_port}",
            f"bind_address={self.bind_address}",
            "audio_jitt_comp=60",
        ]
        other = [
            "[sound]", "echocancellation=0", "agc=0",
            "[video]", "enabled=0", "capture=0", "display=0", "automatically_initiate=0",
            "automatically_accept=0",
            "[net]", "firewall_policy=0", "mtu=0",
        ]  # fmt: skip
        reg: list[str] = []
        if self.registration is not None:
            r = self.registration
            host, port = r.registrar
            reg = [
                "[proxy_0]",
                f"reg_proxy=<sip:{host}:{port};transport={r.transport}>",
                f"reg_identity=sip:{r.user}@{r.domain}",
                f"reg_expires={r.expires_s}",
                "reg_sendregister=1",
                "publish=0",
                "[auth_info_0]",
                f"username={r.user}",
                f"passwd={r.password}",
                f"realm={r.domain}",
                f"domain={r.domain}",
            ]
        return "\n".join([*sip, *rtp, *other, *reg, ""])


def on_free_ports(
    *,
    bind_address: str = "127.0.0.1",
    digits: DigitMode = DigitMode.RFC4733,
    late_offer: bool = False,
    registration: Registration | None = None,
    auto_answer: bool = False,
) -> LinphoneConfig:
    """A configuration whose SIP (UDP and TCP) and RTP ports are free on loopback now."""
    return LinphoneConfig(
        sip_port=free_port(), rtp_port=free_port(even=True), bind_address=bind_address,
        digits=digits, late_offer=late_offer, registration=registration, auto_answer=auto_answer,
    )  # fmt: skip


@dataclass(frozen=True)
class CallHandle:
    """A call as linphonec numbers it."""

    call_id: int


class Linphone:
    """One linphonec. `async with Linphone(...) as phone:`; `wrap` prefixes the command
    (e.g. `ip netns exec NS` to put the phone behind a NAT)."""

    def __init__(
        self,
        workdir: Path,
        config: LinphoneConfig,
        *,
        source_wav: Path,
        wrap: Sequence[str] = (),
    ) -> None:
        binary = shutil.which("linphonec")
        assert binary, "linphonec (Debian package linphone-cli) is required for these tests"
        self.binary = binary
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.source_wav = source_wav
        self.wrap = tuple(wrap)
        self.recording = self.dir / "heard.wav"
        self.log = self.dir / "linphone.log"
        self.console = TmuxConsole(self.dir, "linphone")

    async def __aenter__(self) -> Linphone:
        home = self.dir / "home"
        (home / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)
        rc = self.dir / "linphonerc"
        rc.write_text(self.config.rc_text())
        argv = [*self.wrap, self.binary, "-c", str(rc), "-d", "5", "-l", str(self.log)]
        if self.config.auto_answer:
            argv.append("-a")
        await self.console.start(argv, env={"HOME": str(home)})
        try:
            await self._ready()
        except BaseException:
            await self.console.stop()
            raise
        return self

    async def _ready(self) -> None:
        await self.console.send("soundcard use files")
        await self.console.wait_for(r"Using wav files instead of soundcard")
        await self._wait_listening()
        await self.console.send(f"play {self.source_wav}")
        await self.console.send(f"record {self.recording}")

    async def _wait_listening(self) -> None:
        """Until the SIP port is open (seen from the phone's network namespace)."""
        port = self.config.sip_port
        for _ in range(100):
            process = await asyncio.create_subprocess_exec(
                *self.wrap, "ss", "-Hlnu", f"sport = :{port}",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            out, _ = await process.communicate()
            if out.strip():
                return
            await asyncio.sleep(0.1)
        raise ConsoleError(f"linphonec never opened UDP port {port}: {await self.console.screen()}")

    async def __aexit__(self, *exc: object) -> None:
        try:
            if await self.console.alive():
                await self.console.send("quit")
                for _ in range(50):
                    if not await self.console.alive():
                        break
                    await asyncio.sleep(0.1)
        finally:
            await self.console.stop()

    async def call(self, uri: str) -> CallHandle:
        since = await self.console.mark()
        await self.console.send(f"call {uri}")
        match = await self.console.wait_for(r"assigned id (\d+)", since=since)
        return CallHandle(int(match.group(1)))

    async def wait_connected(self, call: CallHandle, within_s: float = 15.0) -> None:
        await self.console.wait_for(
            rf"Media streams established with .* for call {call.call_id}\b", within_s=within_s
        )

    async def wait_ended(self, call: CallHandle, within_s: float = 15.0) -> str:
        """The reason linphone gives when the call ends (e.g. "No error")."""
        match = await self.console.wait_for(
            rf"Call {call.call_id} (?:with|to) .+ (?:ended \(([^)]*)\)|error)\.$",
            within_s=within_s,
        )
        return match.group(1) or ""

    async def wait_incoming(self, within_s: float = 15.0) -> CallHandle:
        match = await self.console.wait_for(
            r"Receiving new incoming call from .*, assigned id (\d+)", within_s=within_s
        )
        return CallHandle(int(match.group(1)))

    async def wait_registered(self, within_s: float = 15.0) -> None:
        """Until linphone counts itself registered (it prints no line of its own for that:
        ask with `status register`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while True:
            since = await self.console.mark()
            await self.console.send("status register")
            match = await self.console.wait_for(r"^(registered, identity=|registered=-?\d)",
                                                since=since)  # fmt: skip
            if match.group(1) == "registered, identity=":
                return
            if loop.time() > deadline:
                raise ConsoleError(f"linphone did not register: {match.string}")
            await asyncio.sleep(0.3)

    async def press(self, digits: str, gap_s: float = 0.4) -> None:
        """Key presses in the current call, sent as the configured `DigitMode`."""
        for digit in digits:
            await self.console.send(digit)
            await asyncio.sleep(gap_s)

    async def hang_up(self) -> None:
        await self.console.send("terminate")

    async def screen(self) -> str:
        return await self.console.screen()
