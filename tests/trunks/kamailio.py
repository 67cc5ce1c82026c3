"""kamailio as a provider's registrar and proxy on loopback (a config per test).

It challenges REGISTERs with digest (the `auth` module's `pv_www_authenticate`, the
password in the config: no database), keeps bindings in memory (`usrloc` db_mode 0,
at most `max_expires` seconds), and routes an INVITE for a registered user to its
binding, as a carrier routes a DID to a registered PBX. Every REGISTER it receives is
logged (`REGISTER ... expires=...`) for the test to count.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")

CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
memdbg=5
memlog=5
children=2
auto_aliases=no
disable_tcp=yes
listen=udp:127.0.0.1:{port}
alias="{domain}"
mpath="{modules}"

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"

modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", {max_expires})
modparam("registrar", "min_expires", 5)
modparam("registrar", "default_expires", {max_expires})

request_route {{
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("{domain}", "{password}", "0")) {{
            xlog("L_NOTICE", "REGISTER challenged from $si:$sp\\n");
            www_challenge("{domain}", "0");
            exit;
        }}
        if ($au != "{username}") {{
            sl_send_reply("403", "Forbidden");
            exit;
        }}
        consume_credentials();
        xlog("L_NOTICE", "REGISTER $tu from $si:$sp contact $ct expires=$hdr(Expires)\\n");
        if (!save("location")) {{
            sl_reply_error();
        }}
        exit;
    }}
    if (has_totag()) {{
        loose_route();
        t_relay();
        exit;
    }}
    if (is_method("INVITE")) {{
        # A call for the account's DID goes to the account's registered contact.
        $ru = "sip:{username}@{domain}";
        if (!lookup("location")) {{
            xlog("L_NOTICE", "INVITE for $tU: not registered\\n");
            sl_send_reply("480", "Temporarily Unavailable");
            exit;
        }}
        xlog("L_NOTICE", "INVITE for $tU to $ru\\n");
        record_route();
        t_relay();
        exit;
    }}
    if (is_method("CANCEL|ACK")) {{
        t_relay();
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}
"""


class Kamailio:
    """One kamailio process: `async with Kamailio(dir, port=..., ...) as k:`; `stop()` ends
    it early (a provider's server going down)."""

    def __init__(
        self,
        workdir: Path,
        *,
        port: int,
        domain: str,
        username: str,
        password: str,
        max_expires: int = 3600,
    ) -> None:
        binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
        assert Path(binary).exists(), "kamailio is required for these tests (./dev installs it)"
        self.binary = binary
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.config = self.dir / "kamailio.cfg"
        self.config.write_text(
            CONFIG.format(
                port=port, domain=domain, username=username, password=password,
                max_expires=max_expires, modules=MODULES,
            )
        )  # fmt: skip
        self.log = self.dir / "kamailio.log"
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Kamailio:
        with self.log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                self.binary, "-f", str(self.config), "-DD", "-E", "-Y", str(self.dir),
                "-P", str(self.dir / "kamailio.pid"), "-w", str(self.dir),
                stdout=out, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        for _ in range(100):
            if self.process.returncode is not None:
                raise RuntimeError(f"kamailio did not start: {self.log.read_text()[-3000:]}")
            if "INFO: <core> [core/tcp_main.c" in self.text() or self._listening():
                return self
            await asyncio.sleep(0.05)
        raise RuntimeError(f"kamailio did not start: {self.log.read_text()[-3000:]}")

    def _listening(self) -> bool:
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                return True
        return False

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def registers(self) -> list[str]:
        """The REGISTERs it accepted (after the challenge), one log line each."""
        return [line for line in self.text().splitlines() if "REGISTER sip:" in line]
