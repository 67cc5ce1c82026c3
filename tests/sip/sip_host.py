"""A scripted `CallHost` test double: greets, takes a menu digit, reports the branch."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from dipflow.channels.seam import AgentEndpoint, ChannelCall, MediaQuality
from dipflow.channels.sip import SipServer, SipSettings
from dipflow.engine.commands import Disconnect, Play, PlayMusic
from dipflow.engine.events import (
    AgentDisconnected,
    CallerHungUp,
    DigitsCollected,
    Event,
    PromptDone,
)
from dipflow.media import EspeakTts, PromptRenderer

GREETING = (
    "Hello and welcome to dipflow. For an agent, press one. "
    "To hear our goodbye, press two. Please make your choice now."
)
GOODBYE = "Thank you for calling. Goodbye."


@dataclass
class ScriptedCall:
    """The flow: interruptible greeting; "1" -> hold music (and an agent if configured);
    "2" -> goodbye then hang up. Every event is logged for the test to inspect."""

    channel_call: ChannelCall
    ani: str
    dnis: str
    agent: AgentEndpoint | None
    menu: bool = True
    agent_delay_s: float = 1.0
    call_id: str = "scripted"
    events: list[Event] = field(default_factory=list)
    media: tuple[MediaQuality, ...] = ()
    branch: str | None = None
    agent_connected: bool | None = None
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def post(self, event: Event) -> None:
        self.events.append(event)
        self.queue.put_nowait(event)

    def report_media(self, quality: tuple[MediaQuality, ...]) -> None:
        self.media = quality

    async def _next(self, *kinds: type, prompt: str | None = None) -> Event:
        while True:
            event = await self.queue.get()
            if isinstance(event, CallerHungUp | AgentDisconnected):
                raise _HungUp
            if isinstance(event, PromptDone) and prompt and event.prompt_id != prompt:
                continue  # a stale prompt (e.g. the interrupted greeting)
            if isinstance(event, kinds):
                return event

    async def run(self) -> None:
        try:
            await self._run()
        except _HungUp:
            pass
        finally:
            self.finished.set()

    async def _run(self) -> None:
        cc = self.channel_call
        if not self.menu:  # greeting, then music (and the agent, if any) until hang-up
            await cc.execute(Play(prompt_id="greeting", text=GREETING))
            await self._next(PromptDone, prompt="greeting")
            await self._hold_and_connect()
            return
        await cc.execute(Play(prompt_id="greeting", text=GREETING, interruptible=True))
        event = await self._next(DigitsCollected, PromptDone, prompt="greeting")
        if isinstance(event, PromptDone):
            event = await asyncio.wait_for(self._next(DigitsCollected), 20)
        assert isinstance(event, DigitsCollected)
        self.branch = event.digits[0]
        if self.branch == "1":
            await self._hold_and_connect()
        else:
            await cc.execute(Play(prompt_id="goodbye", text=GOODBYE))
            await self._next(PromptDone, prompt="goodbye")
            await cc.execute(Disconnect())

    async def _hold_and_connect(self) -> None:
        await self.channel_call.execute(PlayMusic(prompt_id="music"))
        if self.agent is not None:
            await asyncio.sleep(self.agent_delay_s)
            self.agent_connected = await self.channel_call.connect_agent(self.agent)
        await self._next(DigitsCollected, PromptDone, prompt="never")  # until hang-up


class _HungUp(Exception):
    pass


class ScriptedHost:
    """`CallHost` for the tests: serves the numbers in `numbers`, 404 for the rest."""

    def __init__(
        self,
        numbers: tuple[str, ...] = ("1000",),
        agent: AgentEndpoint | None = None,
        *,
        menu: bool = True,
        agent_delay_s: float = 1.0,
    ) -> None:
        self.numbers = numbers
        self.agent = agent
        self.menu = menu
        self.agent_delay_s = agent_delay_s
        self.calls: list[ScriptedCall] = []
        self.refused: list[dict[str, object]] = []
        self.tasks: list[asyncio.Task[None]] = []

    def start_call(
        self,
        channel_call: ChannelCall,
        *,
        ani: str,
        dnis: str,
        channel: str,
        call_id: str | None = None,
        ani_verified: bool = True,
    ) -> ScriptedCall:
        if dnis not in self.numbers:
            raise LookupError(dnis)
        call = ScriptedCall(
            channel_call=channel_call, ani=ani, dnis=dnis, agent=self.agent, menu=self.menu,
            agent_delay_s=self.agent_delay_s,
        )  # fmt: skip
        self.calls.append(call)
        self.tasks.append(asyncio.get_running_loop().create_task(call.run()))
        return call

    def call_refused(self, *, ani: str, dnis: str, channel: str, status: int, reason: str) -> None:
        self.refused.append({"ani": ani, "dnis": dnis, "status": status, "reason": reason})

    async def wait_calls(self, count: int, within_s: float = 30.0) -> None:
        """Until `count` calls have started and every started call has finished."""
        async with asyncio.timeout(within_s):
            while len(self.calls) < count:  # noqa: ASYNC110 - calls are appended by the server
                await asyncio.sleep(0.05)
            await asyncio.gather(*(c.finished.wait() for c in self.calls))


def free_port(kind: int = socket.SOCK_DGRAM, even: bool = False) -> int:
    """A currently free loopback port (UDP and TCP both free; even when asked)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if even and port % 2:
            continue
        try:
            with (
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u,
            ):
                t.bind(("127.0.0.1", port))
                u.bind(("127.0.0.1", port))
                if even:
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as v:
                        v.bind(("127.0.0.1", port + 2))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


_PROMPTS: PromptRenderer | None = None


def shared_prompts() -> PromptRenderer:
    """One renderer for the whole test session (rendering is cached by content)."""
    global _PROMPTS
    if _PROMPTS is None:
        _PROMPTS = PromptRenderer(EspeakTts())
    return _PROMPTS


@contextlib.asynccontextmanager
async def running_server(
    host: ScriptedHost, registry: CollectorRegistry | None = None, **overrides: object
) -> AsyncIterator[SipServer]:
    rtp_base = 30000 + (free_port() % 8000) * 2
    settings = SipSettings(
        host="127.0.0.1", port=0, rtp_port_min=rtp_base, rtp_port_max=rtp_base + 200,
        **overrides,  # type: ignore[arg-type]
    )  # fmt: skip
    server = SipServer(settings, host=host, prompts=shared_prompts(), registry=registry)  # type: ignore[arg-type]
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        for task in host.tasks:
            task.cancel()
