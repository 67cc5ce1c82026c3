"""Run one simulated call through a runtime: what `dipflow call`, tests and the bench use.

`run_sim_call` starts a `SimCaller`, optionally lets a simulated agent answer the
offer (through `runtime.agent_accept`, exactly as the desktop does), and returns
the transcript, the screen pops and the call's summary once the call is over.
Layer 5 (runtime).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field

from dipflow.center import AgentState, AgentStateChanged, CenterError, ContactOffered, Notification
from dipflow.channels.sim import SimCaller
from dipflow.engine.commands import Play
from dipflow.runtime.notices import CallSummary, RuntimeNotice, ScreenPopReady
from dipflow.runtime.runtime import Runtime
from dipflow.runtime.session import StepRecord
from dipflow.runtime.transcript import TranscriptEntry, build_transcript


@dataclass(slots=True, kw_only=True)
class SimCallResult:
    call_id: str
    summary: CallSummary
    steps: list[StepRecord]
    screen_pops: list[ScreenPopReady]
    caller: SimCaller
    timed_out: bool = False
    marks: dict[str, float] = field(default_factory=dict)
    """Loop-clock times of milestones: start, first_prompt, agent_accept, screen_pop, end."""

    @property
    def transcript(self) -> list[TranscriptEntry]:
        return build_transcript(self.steps)

    @property
    def hit_global_error(self) -> bool:
        return self.summary.error


async def make_agents_available(runtime: Runtime, agent_ids: Sequence[str]) -> None:
    """Log `agent_ids` in to all their teams and make them available (simulated desktops)."""
    for agent_id in agent_ids:
        await runtime.center.login(agent_id)
        await runtime.center.set_available(agent_id)


class AutoAnswer:
    """Simulated agents: accept every offer (for the calls in `call_ids`, or all) after
    `after_s`, and hang up `talk_s` after the screen pop (None: leave the call to the caller)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        after_s: float = 0.0,
        talk_s: float | None = 0.0,
        wrap_up: bool = True,
    ) -> None:
        self._runtime = runtime
        self._after_s = after_s
        self._talk_s = talk_s
        self._wrap_up = wrap_up
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepted_at: dict[str, float] = {}
        self.popped_at: dict[str, float] = {}
        self._unsubscribe: list[Callable[[], None]] = []

    def start(self) -> None:
        self._unsubscribe.append(self._runtime.center.subscribe(self._on_center))
        self._unsubscribe.append(self._runtime.subscribe(self._on_runtime))

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for task in self._tasks:
            task.cancel()

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_center(self, note: Notification) -> None:
        if isinstance(note, ContactOffered):
            self._spawn(self._accept(note.agent_id, note.call_id))
        elif (
            isinstance(note, AgentStateChanged)
            and self._wrap_up
            and note.state is AgentState.WRAP_UP
        ):
            self._spawn(self._end_wrap_up(note.agent_id))

    async def _accept(self, agent_id: str, call_id: str) -> None:
        if self._after_s:
            await asyncio.sleep(self._after_s)
        self.accepted_at[call_id] = asyncio.get_running_loop().time()
        await self._runtime.agent_accept(agent_id, call_id)

    async def _end_wrap_up(self, agent_id: str) -> None:
        try:
            await self._runtime.center.end_wrap_up(agent_id)
        except CenterError:  # wrap-up already over (its timer fired first)
            return

    def _on_runtime(self, notice: RuntimeNotice) -> None:
        if isinstance(notice, ScreenPopReady):
            self.popped_at.setdefault(notice.call_id, asyncio.get_running_loop().time())
            if self._talk_s is not None:
                self._spawn(self._hang_up_later(notice.agent_id, notice.call_id))

    async def _hang_up_later(self, agent_id: str, call_id: str) -> None:
        assert self._talk_s is not None
        await asyncio.sleep(self._talk_s)
        await self._runtime.agent_hangup(agent_id, call_id)


async def run_sim_call(
    runtime: Runtime,
    *,
    ani: str,
    dnis: str,
    presses: Sequence[str] = (),
    speed: float = 0.0,
    hang_up_in_queue_after_s: float | None = 1.0,
    call_timeout_s: float = 60.0,
    call_id: str | None = None,
) -> SimCallResult:
    """One call from start to finish. Agents (if any) must be arranged by the caller
    (`AutoAnswer`, `make_agents_available`)."""
    loop = asyncio.get_running_loop()
    caller = SimCaller(
        presses=presses, speed=speed, hang_up_in_queue_after_s=hang_up_in_queue_after_s
    )
    steps: list[StepRecord] = []
    pops: list[ScreenPopReady] = []
    marks: dict[str, float] = {"start": loop.time()}
    session = runtime.start_call(caller, ani=ani, dnis=dnis, channel="sim", call_id=call_id)
    caller.attach(session)

    def on_notice(notice: RuntimeNotice) -> None:
        if isinstance(notice, ScreenPopReady) and notice.call_id == session.call_id:
            pops.append(notice)
            marks.setdefault("screen_pop", loop.time())

    def on_step(record: StepRecord) -> None:
        steps.append(record)
        if "first_prompt" not in marks and any(isinstance(c, Play) for c in record.commands):
            marks["first_prompt"] = loop.time()

    unsubscribe = runtime.subscribe(on_notice)
    session.observe(on_step)
    timed_out = False
    try:
        await asyncio.wait_for(session.done.wait(), call_timeout_s)
    except TimeoutError:
        timed_out = True
        caller.hang_up()
        try:
            await asyncio.wait_for(session.done.wait(), 5.0)
        except TimeoutError:
            if session.task is not None:
                session.task.cancel()
    finally:
        unsubscribe()
    marks["end"] = loop.time()
    return SimCallResult(
        call_id=session.call_id,
        summary=runtime.summary(session),
        steps=steps,
        screen_pops=pops,
        caller=caller,
        timed_out=timed_out,
        marks=marks,
    )
