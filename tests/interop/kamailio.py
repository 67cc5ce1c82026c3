"""kamailio as a SIP proxy in front of dipflow, with a configuration written per test.

Three shapes a deployment takes: a record-routing proxy (in-dialog requests pass through
it), a proxy that does not record-route (in-dialog requests go end to end, to each side's
Contact), and a short `tcp_connection_lifetime` (kamailio closes idle TCP connections:
after 120 s by default, here after a few seconds). kamailio runs in the foreground
(`-DD -E`), logging to stderr, which is kept in the work directory."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Transport = Literal["udp", "tcp"]

MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")


@dataclass(frozen=True)
class KamailioConfig:
    """A stateful proxy on `listen` that sends every new request to dipflow at `target`."""

    listen: tuple[str, int]
    target: tuple[str, int]
    target_transport: Transport = "udp"
    record_route: bool = True
    tcp_connection_lifetime_s: int | None = None

    def cfg_text(self) -> str:
        host, port = self.listen
        t_host, t_port = self.target
        lifetime = (
            [f"tcp_connection_lifetime={self.tcp_connection_lifetime_s}"]
            if self.tcp_connection_lifetime_s is not None
            else []
        )
        record_route = (
            '    if (is_method("INVITE|SUBSCRIBE")) {\n        record_route();\n    }\n'
            if self.record_route
            else ""
        )
        modules = ["tm", "sl", "rr", "pv", "maxfwd", "textops", "siputils", "xlog"]
        return (
            "#!KAMAILIO\n"
            "debug=2\n"
            "log_stderror=yes\n"
            "children=2\n"
            "tcp_children=2\n"
            "auto_aliases=no\n"
            f"listen=udp:{host}:{port}\n"
            f"listen=tcp:{host}:{port}\n"
            + "".join(f"{line}\n" for line in lifetime)
            + f'mpath="{MODULES}/"\n'
            + "".join(f'loadmodule "{name}.so"\n' for name in modules)
            # Two Record-Route headers when the two sides use different transports.
            + 'modparam("rr", "enable_double_rr", 1)\n'
            + "request_route {\n"
            '    if (!mf_process_maxfwd_header("10")) {\n'
            '        sl_send_reply("483", "Too Many Hops");\n'
            "        exit;\n"
            "    }\n"
            '    xlog("L_INFO", "request $rm $ru from $si:$sp ($pr)\\n");\n'
            "    if (has_totag()) {\n"
            "        if (loose_route()) {\n"
            "            route(RELAY);\n"
            "        }\n"
            # What the stock configuration does with an in-dialog request that names no
            # route through this proxy: a stateless ACK is relayed if it matches a
            # transaction, anything else is not ours (404).
            '        if (is_method("ACK")) {\n'
            "            if (t_check_trans()) {\n"
            "                route(RELAY);\n"
            "            }\n"
            "            exit;\n"
            "        }\n"
            '        sl_send_reply("404", "Not here");\n'
            "        exit;\n"
            "    }\n"
            '    if (is_method("CANCEL")) {\n'
            "        if (t_check_trans()) {\n"
            "            route(RELAY);\n"
            "        }\n"
            "        exit;\n"
            "    }\n"
            "    t_check_trans();\n"
            + record_route
            + f'    $ru = "sip:" + $rU + "@{t_host}:{t_port};transport={self.target_transport}";\n'
            "    route(RELAY);\n"
            "}\n"
            "route[RELAY] {\n"
            "    if (!t_relay()) {\n"
            "        sl_reply_error();\n"
            "    }\n"
            "    exit;\n"
            "}\n"
        )


class Kamailio:
    """One kamailio process. `async with Kamailio(workdir, config) as proxy:`."""

    def __init__(self, workdir: Path, config: KamailioConfig) -> None:
        binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
        assert Path(binary).exists(), "kamailio (Debian package kamailio) is required"
        self.binary = binary
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.cfg = self.dir / "kamailio.cfg"
        self.log = self.dir / "kamailio.log"
        self.run_dir = self.dir / "run"
        self.process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.config.listen

    async def __aenter__(self) -> Kamailio:
        self.cfg.write_text(self.config.cfg_text())
        self.run_dir.mkdir(exist_ok=True)
        check = await asyncio.create_subprocess_exec(
            self.binary, "-c", "-f", str(self.cfg),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await check.communicate()
        if check.returncode != 0:
            raise RuntimeError(f"kamailio refused its configuration:\n{out.decode()[-3000:]}")
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                self.binary, "-f", str(self.cfg), "-DD", "-E",
                "-Y", str(self.run_dir), "-P", str(self.run_dir / "kamailio.pid"),
                "-m", "32", "-M", "4",
                stdout=log, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        await self._wait_listening()
        return self

    async def _wait_listening(self) -> None:
        host, port = self.config.listen
        for _ in range(100):
            assert self.process is not None
            if self.process.returncode is not None:
                raise RuntimeError(f"kamailio exited: {self.log.read_text()[-3000:]}")
            try:
                _, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise RuntimeError(f"kamailio did not listen on {host}:{port}")

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


async def tcp_connections(address: tuple[str, int]) -> list[str]:
    """Established TCP connections to or from `address` (`ss` lines), e.g. dipflow's SIP port."""
    host, port = address
    process = await asyncio.create_subprocess_exec(
        "ss", "-Htn", "state", "established", f"( sport = :{port} or dport = :{port} )",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await process.communicate()
    return [line for line in out.decode().splitlines() if f"{host}:{port}" in line]
