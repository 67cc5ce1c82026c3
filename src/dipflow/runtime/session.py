"""One call: an asyncio task that feeds events to the engine and carries out its commands.

Events arrive from anywhere (the channel, HTTP tasks, timers, the contact center)
through `post`; the session consumes them one at a time, so the engine's state
is only ever touched by this task. Whatever goes wrong inside a command is
logged and turned into the event the engine expects on failure (`PromptFailed`,
`HttpCompleted(error)`, `QueueFailed`), so the flow's error path runs and the
caller is never left in silence; the process never crashes for one call. A deliberate
failure of a lower layer (`DipflowError`: the center's store down, an unknown queue, a prompt
that cannot render) is logged at warning level; anything else is a bug, logged with its
traceback. Layer 5 (runtime).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Protocol, assert_never

from dipflow.center.errors import CenterError
from dipflow.channels.seam import (
    AudioSource,
    ChannelCall,
    MediaQuality,
    TransferResult,
    TransferringCall,
)
from dipflow.connectors.bots import VirtualAgent
from dipflow.engine.commands import (
    CallFinished,
    CancelTimer,
    Command,
    Dequeue,
    Disconnect,
    Enqueue,
    GoToFlow,
    HttpRequest,
    LookupQueue,
    Notice,
    Play,
    PlayMusic,
    RequestCallback,
    ScreenPop,
    SetTimer,
    StartMediaStream,
    StartVirtualAgent,
    StopMedia,
    Transfer,
)
from dipflow.engine.events import (
    AgentAnswered,
    AgentDisconnected,
    AgentOffered,
    AniUpdated,
    CallbackFailed,
    CallerHungUp,
    CallStarted,
    DigitsCollected,
    Event,
    HttpCompleted,
    HttpOutcome,
    PromptDone,
    PromptFailed,
    QueueFailed,
    QueueLookedUp,
    QueueUpdated,
    TimerFired,
    TransferDone,
    VirtualAgentEnded,
)
from dipflow.engine.refusals import refused
from dipflow.engine.state import CallState, TraceEntry
from dipflow.errors import DipflowError
from dipflow.media.stream import MediaStreamer
from dipflow.runtime.botlink import BotConversation
from dipflow.runtime.logs import SECRETS
from dipflow.runtime.notices import CallPhase, ScreenPopReady
from dipflow.runtime.tracing import TraceView

log = logging.getLogger("dipflow.runtime.session")

HANGUP_GRACE_S = 300.0
"""How long a call may keep running its event flows after the caller hung up."""


class EngineLike(Protocol):
    """`dipflow.engine.Engine` as the session drives it."""

    def start(
        self, event: CallStarted, now: float, *, history: Sequence[TraceEntry] = ()
    ) -> tuple[CallState, Sequence[Command]]: ...

    def step(
        self, state: CallState, event: Event, now: float
    ) -> tuple[CallState, Sequence[Command]]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    """One engine step, for observers (the `dipflow call` transcript, tests)."""

    call_id: str
    at: float
    """Seconds since the call started."""
    event: Event
    commands: tuple[Command, ...]


class SessionServices(Protocol):
    """What a session needs from the runtime."""

    async def http(self, request: HttpRequest) -> HttpCompleted: ...

    async def enqueue(self, session: CallSession, command: Enqueue) -> None: ...

    async def dequeue(self, session: CallSession, command: Dequeue) -> None: ...

    async def lookup_queue(self, session: CallSession, command: LookupQueue) -> QueueLookedUp:
        """Queue statistics (raises `CenterError`: the flow takes its failure output)."""
        ...

    def virtual_agent(self, name: str) -> VirtualAgent | None:
        """The virtual-agent connector `name`; None when the deployment has none such."""
        ...

    def media_stream_url(self, destination: str) -> str | None:
        """The WebSocket URL of a media stream destination; None for an unknown name."""
        ...

    def engine_for(self, flow: str) -> tuple[EngineLike, TraceView] | None:
        """The engine of the flow named `flow` (GoTo); None when there is none."""
        ...

    def request_callback(self, session: CallSession, command: RequestCallback) -> str | None:
        """Keep the callback for when an agent takes the contact; the reason it cannot
        be placed at all (no outbound channel), or None."""
        ...

    async def session_ended(self, session: CallSession) -> None:
        """Center clean-up (abandon or end_contact) and bookkeeping; must not raise."""
        ...

    async def save_state(self, session: CallSession, state_json: str) -> None: ...

    def screen_pop(self, notice: ScreenPopReady) -> None: ...

    def call_updated(self, session: CallSession) -> None: ...

    def count_error(self, where: str) -> None: ...

    def observe_http(self, request: HttpRequest, result: HttpCompleted) -> None: ...


@dataclass(slots=True)
class CallFacts:
    """What the runtime knows about a call besides the engine state."""

    call_id: str
    ani: str
    dnis: str
    channel: str
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    phase: CallPhase = CallPhase.IVR
    queue: str | None = None
    queued_at: float | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    offered_agent_id: str | None = None
    hung_up: bool = False
    disconnected: bool = False
    last_enqueue: Enqueue | None = None
    """The queueing in force (to requeue the caller when an agent's leg fails)."""
    media: tuple[MediaQuality, ...] = ()
    """The channel's last report of the call's media quality (RTP legs)."""
    callback: RequestCallback | None = None
    """A callback waiting for an agent: the caller's leg may be gone, the contact is not."""


class CallSession:
    """Implements `dipflow.channels.seam.CallHandle` for the channel."""

    def __init__(
        self,
        *,
        facts: CallFacts,
        engine: EngineLike,
        channel_call: ChannelCall,
        services: SessionServices,
        trace_view: TraceView,
        max_steps: int = 100_000,
    ) -> None:
        self.facts = facts
        self.channel_call = channel_call
        self.trace_view = trace_view
        self.state: CallState | None = None
        """None until the engine has started the call (the session's first step)."""
        self.done = asyncio.Event()
        self._engine = engine
        self._services = services
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._stuck_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._observers: list[Callable[[StepRecord], None]] = []
        self._finished = False
        self._announced_phase: CallPhase | None = None
        self._max_steps = max_steps
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        # Every line about this call carries its id as a field (JSON logs: "call_id").
        self._log = logging.LoggerAdapter(log, {"call_id": facts.call_id})
        self.task: asyncio.Task[None] | None = None
        self._bot: BotConversation | None = None
        """The virtual-agent conversation in progress: it takes the caller's keys."""
        self._bot_task: asyncio.Task[None] | None = None
        self._streams: list[tuple[Callable[[], None], MediaStreamer]] = []
        """Media streams of the call: (stop tapping, the streamer)."""

    # -- CallHandle ---------------------------------------------------------------------------

    @property
    def call_id(self) -> str:
        return self.facts.call_id

    def post(self, event: Event) -> None:
        if self._finished:
            return
        if isinstance(event, CallerHungUp) and not self.facts.hung_up:
            self.facts.hung_up = True
            # The engine finishes a call soon after the caller leaves (contact_ended may
            # still post a record); if it never does, do not keep the call forever. A
            # caller waiting for a callback has left on purpose: the contact lives on.
            if self.facts.callback is None:
                self._stuck_timer = self._loop.call_later(HANGUP_GRACE_S, self._end_stuck_call)
        self._events.put_nowait(event)

    def report_media(self, quality: tuple[MediaQuality, ...]) -> None:
        self.facts.media = quality

    def _end_stuck_call(self) -> None:
        if not self._finished and self.task is not None:
            self._log.warning(
                "call %s: not finished %.0f s after hang-up", self.call_id, HANGUP_GRACE_S
            )
            self._services.count_error("stuck")
            self.task.cancel()

    # -- observers ----------------------------------------------------------------------------

    def observe(self, callback: Callable[[StepRecord], None]) -> Callable[[], None]:
        self._observers.append(callback)

        def unsubscribe() -> None:
            if callback in self._observers:
                self._observers.remove(callback)

        return unsubscribe

    @property
    def finished(self) -> bool:
        return self._finished

    # -- the loop -----------------------------------------------------------------------------

    def begin(self) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self._run(), name=f"call-{self.call_id}")
        return self.task

    async def _run(self) -> None:
        try:
            await self._main()
        except asyncio.CancelledError:
            await self._shutdown("cancelled")
            raise
        except Exception:  # a bug in the runtime or engine: end this call, keep the process
            self._log.exception("call %s: session failed", self.call_id)
            self._services.count_error("session")
            await self._shutdown("error")
        finally:
            self._finish_bookkeeping()

    async def _main(self) -> None:
        started = CallStarted(
            call_id=self.facts.call_id,
            ani=self.facts.ani,
            dnis=self.facts.dnis,
            channel=self.facts.channel,
            started_at=self.facts.started_at,
        )
        self.state, commands = self._engine.start(started, self._loop.time())
        await self._after_step(started, commands)
        steps = 0
        while not self._finished:
            event = await self._events.get()
            if self._bot is not None:
                if self._bot.takes(event):
                    continue  # the bot's prompt ended, or the caller answered the bot
                if isinstance(event, CallerHungUp) and self._bot_task is not None:
                    self._bot_task.cancel()  # nobody to talk to
            self._before_step(event)
            self.state, commands = self._engine.step(
                self._started_state(), event, self._loop.time()
            )
            await self._after_step(event, commands)
            steps += 1
            if steps >= self._max_steps:
                raise RuntimeError("too many events for one call")

    def _started_state(self) -> CallState:
        if self.state is None:
            raise RuntimeError("the engine has not started this call")
        return self.state

    def _before_step(self, event: Event) -> None:
        """Runtime bookkeeping driven by events (phases for the supervisor view)."""
        facts = self.facts
        match event:
            case AgentOffered():
                facts.offered_agent_id = event.agent_id
                facts.phase = CallPhase.OFFERED
            case AgentAnswered():
                facts.agent_id, facts.agent_name = event.agent_id, event.agent_name
                facts.phase = CallPhase.CONNECTED
            case QueueFailed():
                facts.phase = CallPhase.IVR
            case CallerHungUp():
                facts.disconnected = True
            case (
                CallStarted()
                | PromptDone()
                | PromptFailed()
                | DigitsCollected()
                | HttpCompleted()
                | QueueUpdated()
                | AgentDisconnected()
                | TimerFired()
                | QueueLookedUp()
                | CallbackFailed()
                | AniUpdated()
                | TransferDone()
                | VirtualAgentEnded()
            ):
                pass  # no bookkeeping: the engine alone decides what they mean
            case _:
                assert_never(event)

    async def _after_step(self, event: Event, commands: Sequence[Command]) -> None:
        SECRETS.set(self.call_id, self.trace_view.secure_values(self.state))
        if self._events.empty():
            # Saved whenever the call is about to wait; a burst of queued events is
            # saved once, after its last step (serialising grows with the trace).
            await self._save_state()
        record = StepRecord(
            call_id=self.call_id,
            at=self._loop.time() - self._t0,
            event=event,
            commands=tuple(commands),
        )
        for observer in list(self._observers):
            try:
                observer(record)
            except Exception:
                self._log.exception("call %s: observer failed", self.call_id)
        for command in commands:
            await self._dispatch(command)
        if self.facts.phase is not self._announced_phase:
            # Phase changes only: a supervisor needs to see calls move, not every step
            # (and a summary with its trace is not free at a thousand calls).
            self._announced_phase = self.facts.phase
            self._services.call_updated(self)

    async def _save_state(self) -> None:
        if self.state is None:
            return
        try:
            await self._services.save_state(self, self.state.to_json())
        except CenterError as exc:  # the store is down: the call goes on, unsaved
            self._log.warning("call %s: could not save state: %s", self.call_id, exc)
            self._services.count_error("store")

    # -- commands -----------------------------------------------------------------------------

    async def _dispatch(self, command: Command) -> None:
        try:
            await self._carry_out(command)
        except DipflowError as exc:  # a lower layer said no (CenterError...): not a bug
            self._log.warning(
                "call %s: %s failed: %s: %s",
                self.call_id,
                type(command).__name__,
                type(exc).__name__,
                exc,
            )
            self._fail(command, exc)
        except Exception as exc:  # a bug: logged with its traceback; the flow still goes on
            self._log.exception("call %s: %s failed", self.call_id, type(command).__name__)
            self._fail(command, exc)

    def _fail(self, command: Command, exc: Exception) -> None:
        self._services.count_error(type(command).__name__)
        failure = _failure_event(command, exc)
        if failure is not None:
            self.post(failure)

    async def _carry_out(self, command: Command) -> None:
        match command:
            case Play() | PlayMusic() | StopMedia():
                if not self.facts.disconnected:
                    await self.channel_call.execute(command)
            case Disconnect():
                if not self.facts.disconnected:
                    self.facts.disconnected = True
                    await self.channel_call.execute(command)
            case HttpRequest():
                self._spawn(self._http(command))
            case Enqueue():
                self.facts.queue = command.queue
                self.facts.queued_at = self._loop.time()
                self.facts.phase = CallPhase.QUEUED
                await self._services.enqueue(self, command)
            case Dequeue():
                await self._services.dequeue(self, command)
            case ScreenPop():
                self._screen_pop(command)
            case SetTimer():
                self._cancel_timer(command.timer_id)
                self._timers[command.timer_id] = self._loop.call_at(
                    command.at, self._fire_timer, command.timer_id
                )
            case CancelTimer():
                self._cancel_timer(command.timer_id)
            case CallFinished():
                await self._shutdown("finished")
            case Transfer() if isinstance(self.channel_call, TransferringCall):
                self._spawn(self._transfer(command, self.channel_call))
            case LookupQueue():
                self.post(await self._services.lookup_queue(self, command))
            case RequestCallback():
                reason = self._services.request_callback(self, command)
                if reason is not None:
                    self.post(CallbackFailed(reason=reason))
            case StartVirtualAgent():
                self._start_bot(command)
            case GoToFlow():
                await self._go_to(command.flow)
            case StartMediaStream():
                self._stream(command)
            case Transfer():
                # Not carried out here yet: the engine takes the activity's failure path
                # now rather than after its guard timer.
                failure = refused(command, f"{type(command).__name__} is not supported here yet")
                if failure is not None:
                    self.post(failure)
            case Notice():
                pass  # for the transcript, which reads it from the step
            case _:
                assert_never(command)

    def _start_bot(self, command: StartVirtualAgent) -> None:
        bot = self._services.virtual_agent(command.connector)
        if bot is None:
            reason = (
                f"no virtual agent named {command.connector!r} is configured "
                "(virtual_agents: in dipflow.yaml)"
            )
            failure = refused(command, reason)
            if failure is not None:
                self.post(failure)
            return
        if self._bot_task is not None:
            self._bot_task.cancel()  # a new conversation replaces a lost one
        conversation = BotConversation(
            bot=bot,
            command=command,
            call_id=self.call_id,
            ani=self.facts.ani,
            dnis=self.facts.dnis,
            play=self._bot_says,
            post=self.post,
        )
        self._bot = conversation

        async def talk() -> None:
            try:
                await conversation.run()
            finally:
                if self._bot is conversation:
                    self._bot, self._bot_task = None, None

        task = asyncio.create_task(talk(), name=f"bot-{self.call_id}")
        self._bot_task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _stream(self, command: StartMediaStream) -> None:
        """Fork the caller's audio; a stream that cannot start is logged, the call goes on."""
        url = self._services.media_stream_url(command.destination)
        channel = self.channel_call
        if url is None:
            why = f"no media stream named {command.destination!r} (media_streams:)"
        elif not isinstance(channel, AudioSource):
            why = f"the {self.facts.channel} channel has no audio to stream"
        else:
            streamer = MediaStreamer(
                url,
                start={"call_id": self.call_id, "stream_id": command.stream_id,
                       "ani": self.facts.ani, "dnis": self.facts.dnis},
            )  # fmt: skip
            streamer.begin()
            untap = channel.tap_audio(streamer.feed)
            self._streams.append((untap, streamer))
            return
        self._log.warning("call %s: media stream not started: %s", self.call_id, why)
        self._services.count_error("media_stream")

    async def _go_to(self, name: str) -> None:
        """GoTo: the call goes on in `name`'s engine, from its start; the trace goes on."""
        found = self._services.engine_for(name)
        if found is None:  # the engine checked the name: a deployment changed under it
            self._log.error("call %s: no engine for flow %r to go to", self.call_id, name)
            await self._shutdown("goto")
            return
        old = self._started_state()
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._bot_task is not None:
            self._bot_task.cancel()
        self._engine, self.trace_view = found
        self.facts.phase = CallPhase.IVR
        self.facts.queue = None
        self.facts.last_enqueue = None
        started = CallStarted(
            call_id=self.facts.call_id,
            ani=self.facts.ani,
            dnis=self.facts.dnis,
            channel=self.facts.channel,
            started_at=self.facts.started_at,
        )
        self.state, commands = self._engine.start(started, self._loop.time(), history=old.trace)
        await self._after_step(started, commands)

    async def _bot_says(self, command: Play) -> None:
        if not self.facts.disconnected:
            await self.channel_call.execute(command)

    def _screen_pop(self, command: ScreenPop) -> None:
        agent_id = command.agent_id or self.facts.agent_id
        if agent_id is None:
            self._log.warning("call %s: screen pop with no agent to show it to", self.call_id)
            return
        self._services.screen_pop(
            ScreenPopReady(
                agent_id=agent_id,
                call_id=self.call_id,
                url=command.url,
                label=command.label,
                target=command.target,
            )
        )

    async def _transfer(self, command: Transfer, call: TransferringCall) -> None:
        """A blind transfer by the channel; once done the channel owns the call, so the
        end of the flow must not hang it up."""
        try:
            result = await call.transfer(command.destination, caller_id=command.caller_id)
        except Exception as exc:  # a channel bug: the flow takes the error path, not silence
            self._log.exception("call %s: transfer failed", self.call_id)
            self._services.count_error("transfer")
            result = TransferResult(ok=False, error=f"transfer failure: {type(exc).__name__}")
        if result.ok:
            self.facts.disconnected = True
        self.post(TransferDone(transfer_id=command.transfer_id, ok=result.ok, error=result.error))

    async def _http(self, request: HttpRequest) -> None:
        try:
            result = await self._services.http(request)
        except Exception as exc:  # connectors never raise; this is a guard, not a path
            self._log.exception("call %s: connector raised", self.call_id)
            self._services.count_error("http")
            result = HttpCompleted(
                request_id=request.request_id,
                outcome=HttpOutcome.ERROR,
                error=f"connector failure: {type(exc).__name__}",
            )
        self._services.observe_http(request, result)
        self.post(result)

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _fire_timer(self, timer_id: str) -> None:
        self._timers.pop(timer_id, None)
        self.post(TimerFired(timer_id=timer_id))

    def _cancel_timer(self, timer_id: str) -> None:
        handle = self._timers.pop(timer_id, None)
        if handle is not None:
            handle.cancel()

    # -- the end ------------------------------------------------------------------------------

    async def _shutdown(self, why: str) -> None:
        if self._finished:
            return
        self._finished = True
        self.facts.ended_at = time.time()
        self.facts.phase = CallPhase.ENDED
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        for untap, streamer in self._streams:
            untap()
            await streamer.stop()
        self._streams.clear()
        if not self.facts.disconnected:
            # The engine finished without hanging up, or the session failed: never leave
            # the caller connected to nothing.
            self.facts.disconnected = True
            try:
                await self.channel_call.execute(Disconnect(reason=why))
            except Exception:
                self._log.exception("call %s: channel disconnect failed", self.call_id)
        await self._services.session_ended(self)
        self._log.info("call %s ended (%s)", self.call_id, why)

    def _finish_bookkeeping(self) -> None:
        SECRETS.drop(self.call_id)
        if self._stuck_timer is not None:
            # Else the loop holds the finished session (state, trace) for HANGUP_GRACE_S.
            self._stuck_timer.cancel()
            self._stuck_timer = None
        self._finished = True
        self.done.set()


def _failure_event(command: Command, exc: Exception) -> Event | None:
    """The event that sends the engine down the failed command's error path (None: the
    command has no error path; the engine goes on as if it had been carried out)."""
    reason = f"{type(exc).__name__}: {exc}"[:200]
    match command:
        case Play() | PlayMusic():
            return PromptFailed(prompt_id=command.prompt_id, reason=reason)
        case Enqueue():
            return QueueFailed(queue=command.queue, reason=reason)
        case HttpRequest():
            return HttpCompleted(
                request_id=command.request_id, outcome=HttpOutcome.ERROR, error=reason
            )
        case LookupQueue() | RequestCallback() | Transfer() | StartVirtualAgent():
            return refused(command, reason)
        case GoToFlow() | StartMediaStream():
            return None
        case Notice():
            return None
        case (
            StopMedia()
            | Dequeue()
            | ScreenPop()
            | SetTimer()
            | CancelTimer()
            | Disconnect()
            | CallFinished()
        ):
            return None
        case _:
            assert_never(command)
