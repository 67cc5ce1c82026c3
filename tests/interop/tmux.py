"""A console program (linphonec) driven through tmux: it wants a terminal, so it gets one.

Each console has its own tmux server (`-L` socket in the work directory's name), so stopping it
touches nothing else on the machine."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

_SERIAL = itertools.count()


class ConsoleError(RuntimeError):
    """The console program did not say what was expected (the screen is in the message)."""


async def _tmux(socket: str, *args: str, check: bool = True) -> str:
    process = await asyncio.create_subprocess_exec(
        "tmux", "-L", socket, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, err = await process.communicate()
    if check and process.returncode != 0:
        raise ConsoleError(f"tmux {' '.join(args)}: {err.decode(errors='replace').strip()}")
    return out.decode(errors="replace")


class TmuxConsole:
    """One program in one tmux pane: type lines, read the screen, wait for text."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.workdir = workdir
        # tmux sockets live in /tmp/tmux-UID/: a name no other console (or user) has.
        self.socket = f"dipflow-{name}-{os.getpid()}-{next(_SERIAL)}"
        self.name = name
        self._conf = workdir / "tmux.conf"
        self._started = False
        self._socket_path = ""

    async def start(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        # A long history: the screen is our only record of what the program said.
        self._conf.write_text("set -g history-limit 100000\nset -g remain-on-exit on\n")
        command = shlex.join(["env", *(f"{k}={v}" for k, v in (env or {}).items()), *argv])
        await _tmux(
            self.socket, "-f", str(self._conf), "new-session", "-d", "-s", self.name,
            "-x", "250", "-y", "50", command,
        )  # fmt: skip
        self._started = True
        self._socket_path = (await _tmux(self.socket, "display", "-p", "#{socket_path}")).strip()

    async def send(self, line: str) -> None:
        """Type `line` and press Enter."""
        await _tmux(self.socket, "send-keys", "-t", self.name, "-l", line)
        await _tmux(self.socket, "send-keys", "-t", self.name, "Enter")

    async def screen(self) -> str:
        """Everything the program printed so far (joined wrapped lines, no trailing blanks)."""
        text = await _tmux(self.socket, "capture-pane", "-p", "-J", "-S", "-", "-t", self.name)
        return text.rstrip()

    async def lines(self) -> list[str]:
        return (await self.screen()).splitlines()

    async def mark(self) -> int:
        """The current line count: pass it to `wait_for` to look only at what comes next."""
        return len(await self.lines())

    async def wait_for(
        self, pattern: str, *, within_s: float = 15.0, since: int = 0
    ) -> re.Match[str]:
        """The first line after line `since` that matches `pattern`, or ConsoleError."""
        regex = re.compile(pattern)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while True:
            lines = await self.lines()
            for line in lines[since:]:
                match = regex.search(line)
                if match:
                    return match
            if loop.time() > deadline:
                tail = "\n".join(lines[-40:])
                raise ConsoleError(
                    f"{self.name}: no line matching {pattern!r} in {within_s} s:\n{tail}"
                )
            await asyncio.sleep(0.1)

    async def alive(self) -> bool:
        out = await _tmux(self.socket, "list-panes", "-t", self.name, "-F", "#{pane_dead}",
                          check=False)  # fmt: skip
        return out.strip() == "0"

    async def stop(self) -> None:
        if self._started:
            await _tmux(self.socket, "kill-server", check=False)
            self._started = False
            if self._socket_path:  # tmux leaves its socket file behind
                await asyncio.to_thread(Path(self._socket_path).unlink, missing_ok=True)
