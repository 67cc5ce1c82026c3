"""Running sipp against the server under test (loopback, free ports, always cleaned up)."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.sip.sip_host import free_port

SCENARIOS = Path(__file__).parent / "scenarios"
PCAPS = Path("/usr/share/sip-tester")


@dataclass
class SippResult:
    returncode: int
    output: str


def sipp_binary() -> str:
    path = shutil.which("sipp") or "/usr/bin/sipp"
    assert Path(path).exists(), "sipp (Debian package sip-tester) is required for these tests"
    return path


def scenario(name: str, tmp_path: Path, *, folder: Path = SCENARIOS, **substitutions: str) -> Path:
    """The scenario `name` of `folder`, with each key replaced by its value, in `tmp_path`."""
    text = (folder / name).read_text()
    for key, value in substitutions.items():
        text = text.replace(key, value)
    target = tmp_path / name
    target.write_text(text)
    return target


async def run_sipp(
    scenario_file: Path,
    target: tuple[str, int],
    *,
    service: str = "1000",
    calls: int = 1,
    rate: float = 10.0,
    limit: int | None = None,
    timeout_s: float = 60.0,
    extra: tuple[str, ...] = (),
    transport: str = "u1",
    local_ip: str = "127.0.0.1",
) -> SippResult:
    """`calls` calls from `local_ip` (any 127/8 address is loopback on Linux: another
    'host'), `limit` at once; sipp's exit code and output."""
    args = [
        sipp_binary(),
        "-sf", str(scenario_file),
        "-i", local_ip,
        "-p", str(free_port()),
        "-mp", str(free_port(even=True)),
        "-s", service,
        "-m", str(calls),
        "-r", str(rate),
        "-t", transport,
        "-timeout", f"{int(timeout_s)}s",
        "-timeout_error",
        "-nostdin",
        *(("-l", str(limit)) if limit else ()),
        *extra,
        f"{target[0]}:{target[1]}",
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=str(scenario_file.parent),
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout_s + 15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return SippResult(returncode=process.returncode or 0, output=out.decode(errors="replace"))


class SippPeer:
    """sipp in server mode (a phone that answers): `async with SippPeer(xml) as peer`,
    listening on `peer.port`; `peer.result()` waits for the scenario to end."""

    def __init__(self, scenario_file: Path, *, calls: int = 1, timeout_s: float = 60.0) -> None:
        self.scenario_file = scenario_file
        self.calls = calls
        self.timeout_s = timeout_s
        self.port = free_port()
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> SippPeer:
        args = [
            sipp_binary(), "-sf", str(self.scenario_file), "-i", "127.0.0.1",
            "-p", str(self.port), "-mp", str(free_port(even=True)), "-m", str(self.calls),
            "-timeout", f"{int(self.timeout_s)}s", "-timeout_error", "-nostdin", "-trace_logs",
        ]  # fmt: skip
        self._process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=str(self.scenario_file.parent),
        )  # fmt: skip
        await asyncio.sleep(0.3)  # sipp binds its socket
        return self

    async def result(self) -> SippResult:
        assert self._process is not None
        out, _ = await asyncio.wait_for(self._process.communicate(), self.timeout_s + 15)
        return SippResult(self._process.returncode or 0, out.decode(errors="replace"))

    def log_bytes(self) -> bytes:
        """What the scenario's <log> actions wrote (sipp's -trace_logs file)."""
        logs = sorted(self.scenario_file.parent.glob(f"{self.scenario_file.stem}_*_logs.log"))
        return b"".join(path.read_bytes() for path in logs)

    async def __aexit__(self, *exc: object) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
