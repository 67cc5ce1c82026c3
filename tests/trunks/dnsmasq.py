"""A dnsmasq process serving test records on a loopback port (authoritative for `.test`)."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import shutil
import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from tests.sip.sip_host import free_port


@contextlib.asynccontextmanager
async def dnsmasq(records: Sequence[str], workdir: Path) -> AsyncIterator[int]:
    """Run dnsmasq with `records` (its own options, e.g. `--srv-host=...`); yields its port.

    `--local=/test/` makes it answer NXDOMAIN/NODATA for other `.test` names itself
    (it has no upstream), as an authoritative server would."""
    binary = _binary()
    log = workdir / "dnsmasq.log"
    for _ in range(5):
        port = free_port()
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                binary, "--no-daemon", f"--port={port}", "--listen-address=127.0.0.1",
                "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll",
                "--local=/test/", "--local-ttl=300", "--log-queries",
                f"--pid-file={workdir / 'dnsmasq.pid'}", f"--user={getpass.getuser()}", *records,
                stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        if await _listening(port, process):
            break
        await _stop(process)
    else:
        raise RuntimeError(f"dnsmasq did not start: {log.read_text()[-2000:]}")
    try:
        yield port
    finally:
        await _stop(process)


def _binary() -> str:
    binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    assert Path(binary).exists(), "dnsmasq is required for these tests (./dev installs it)"
    return binary


async def _listening(port: int, process: asyncio.subprocess.Process) -> bool:
    for _ in range(50):
        if process.returncode is not None:
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return True  # dnsmasq holds it
        await asyncio.sleep(0.05)
    return False


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
