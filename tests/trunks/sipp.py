"""sipp as a carrier or a stranger: scenarios of tests/trunks/scenarios from a chosen address."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from tests.sip import sipp_runner
from tests.sip.sip_host import free_port
from tests.sip.sipp_runner import SippResult, sipp_binary

SCENARIOS = Path(__file__).parent / "scenarios"


def scenario(name: str, tmp_path: Path, **substitutions: str) -> Path:
    return sipp_runner.scenario(name, tmp_path, folder=SCENARIOS, **substitutions)


async def sipp(
    scenario_file: Path,
    target: tuple[str, int],
    *,
    service: str,
    local_ip: str = "127.0.0.1",
    timeout_s: float = 30.0,
    extra: tuple[str, ...] = (),
) -> SippResult:
    """One call from `local_ip` (any 127/8 address is loopback on Linux: another 'host')."""
    return await sipp_runner.run_sipp(
        scenario_file, target, service=service, local_ip=local_ip, timeout_s=timeout_s,
        extra=extra,
    )  # fmt: skip


class SippServer:
    """sipp as a UAS (a carrier's server, a callee) listening on `port` for one call:
    `async with SippServer(scenario) as uas: ...; result = await uas.result()`."""

    def __init__(self, scenario_file: Path, *, timeout_s: float = 30.0) -> None:
        self.scenario_file = scenario_file
        self.timeout_s = timeout_s
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self._output: bytes | None = None

    async def __aenter__(self) -> SippServer:
        args = [
            sipp_binary(), "-sf", str(self.scenario_file), "-i", "127.0.0.1",
            "-p", str(self.port), "-mp", str(free_port(even=True)), "-m", "1", "-t", "u1",
            "-timeout", f"{int(self.timeout_s)}s", "-timeout_error", "-nostdin",
            "-trace_msg", "-message_file", str(self.scenario_file.with_suffix(".msg")),
        ]  # fmt: skip
        self.process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=str(self.scenario_file.parent),
        )  # fmt: skip
        # Ready once sipp holds its port (a probe cannot bind it); never assume it started.
        for _ in range(100):
            if self.process.returncode is not None:
                out = await self.process.stdout.read() if self.process.stdout else b""
                raise RuntimeError(f"sipp did not start: {out.decode(errors='replace')[-2000:]}")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("127.0.0.1", self.port))
                except OSError:
                    return self
            await asyncio.sleep(0.05)
        raise RuntimeError("sipp did not bind its port")

    async def result(self) -> SippResult:
        assert self.process is not None
        out, _ = await asyncio.wait_for(self.process.communicate(), self.timeout_s + 15)
        return SippResult(returncode=self.process.returncode or 0,
                          output=out.decode(errors="replace"))  # fmt: skip

    def messages(self) -> str:
        """What sipp received and sent (its -trace_msg file)."""
        path = self.scenario_file.with_suffix(".msg")
        return path.read_text(errors="replace") if path.exists() else ""

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
