"""sipsak (Debian `sipsak`): one OPTIONS request, as monitoring systems probe a SIP server."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class SipsakResult:
    returncode: int  # 0: a 200 came back; 1..: no or another final response (see output)
    output: str

    @property
    def status_line(self) -> str:
        """The final response's status line as sipsak printed it ("" when none came)."""
        lines = [line for line in self.output.splitlines() if line.startswith("SIP/2.0 ")]
        return lines[-1] if lines else ""


async def options(
    uri: str, *, transport: Literal["udp", "tcp"] = "udp", timeout_s: float = 15.0
) -> SipsakResult:
    """Send OPTIONS to `uri` (sip:user@host:port) from loopback; sipsak retransmits over UDP."""
    binary = shutil.which("sipsak")
    assert binary, "sipsak (Debian package sipsak) is required for these tests"
    process = await asyncio.create_subprocess_exec(
        binary, "-s", uri, "-H", "127.0.0.1", "-E", transport, "-vv",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout_s)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return SipsakResult(process.returncode or 0, out.decode(errors="replace"))
