"""An in-process world for a flow: fake clock, simulated channel, connector and center.

Test support over Layer 2 (engine); no product module imports it.

Deterministic: time only moves when the simulator pops its next scheduled happening,
so a ten-minute call with music and timeouts runs in milliseconds and always the same.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, assert_never

from dipflow.engine import CallState, Engine, TraceEntry
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
    CallbackFailed,
    CallerHungUp,
    CallStarted,
    DigitsCollected,
    Event,
    HttpCompleted,
    HttpOutcome,
    PromptDone,
    QueueFailed,
    QueueLookedUp,
    QueueUpdated,
    TimerFired,
    TransferDone,
    VirtualAgentEnded,
    VirtualAgentOutcome,
)
from dipflow.flow import loader
from dipflow.flow.bundled import bundled_path
from dipflow.flow.library import subflows_needed
from dipflow.flow.model import Flow
from dipflow.testing.checks import check_scripts
from dipflow.testing.scripts import (
    MENU_KINDS,
    NEXT_MENU,
    AgentAction,
    AgentDoes,
    BotReply,
    CallerAction,
    CallerDoes,
    HttpReply,
    HttpScripts,
    QueueStats,
    hang_up,
    speech_seconds,
)

START_TIME = 1_767_225_600.0
"""2026-01-01T00:00:00Z: the simulated clock's origin (so `StartTime` reads sensibly)."""


def load_flow(flow: Flow | str | Path) -> Flow:
    """A `Flow`, a path to a YAML/JSON flow file, or the name of a bundled flow."""
    if isinstance(flow, Flow):
        return flow
    path = Path(flow)
    if not path.exists() and isinstance(flow, str) and "/" not in flow:
        path = bundled_path(flow)
    return loader.load_flow(path)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationResult:
    path: list[str]
    """Ids of the activities run, in order (event flows included)."""
    prompts: list[str]
    """Texts (or audio names) played to the caller, in order."""
    requests: list[HttpRequest]
    variables: dict[str, Any]
    """Flow variables, and activity outputs flattened as `Namespace.key`."""
    screen_pops: list[ScreenPop]
    commands: list[Command]
    timeline: list[tuple[float, Command]]
    """Every command with the simulated time (seconds since the call started)."""
    trace: list[TraceEntry]
    disconnected: bool
    """The flow hung up on the caller."""
    hung_up: bool
    """The caller hung up."""
    queued: list[str]
    """Queues the call was put in, in order."""
    callbacks: list[RequestCallback]
    """Courtesy callbacks the flow asked for."""
    transfers: list[Transfer]
    """Blind transfers the flow asked for."""
    stubs: list[str]
    """`--allow-partial` stubs the call went through (their original Webex kinds)."""
    finished: bool
    event_log: list[tuple[float, Event]]
    """Every event given to the engine with its clock reading: input for `replay`."""
    state: CallState
    elapsed_s: float

    @property
    def plays(self) -> list[Play]:
        """Every prompt as the channel was asked to speak it: text, language, voice, segments."""
        return [command for command in self.commands if isinstance(command, Play)]


_Happening = (
    CallerAction
    | AgentAction
    | PromptDone
    | TimerFired
    | HttpCompleted
    | QueueLookedUp
    | TransferDone
    | VirtualAgentEnded
)
"""What the simulated world schedules: a scripted action, or an event the channel, the
timers or the connector deliver later."""


@dataclass(order=True)
class _Pending:
    at: float
    seq: int
    what: _Happening = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class FlowSimulator:
    """Step-by-step simulation: `start`, then `advance`, `send`, or `run` to the end."""

    def __init__(
        self,
        flow: Flow | str | Path,
        *,
        variables: dict[str, Any] | None = None,
        http: HttpScripts | None = None,
        caller: Sequence[CallerAction] = (),
        agent: Sequence[AgentAction] = (),
        start_time: float = START_TIME,
        queues: Mapping[str, str] | None = None,
        queue_stats: Mapping[str, QueueStats] | None = None,
        bots: Mapping[str, BotReply] | None = None,
        transfer_error: str | None = None,
        hang_up_in_queue_s: float | None = None,
        library: Mapping[str, Flow | str | Path] | None = None,
    ) -> None:
        """`queue_stats` and `bots` answer queue lookups and virtual agents per activity
        id; `transfer_error` makes every blind transfer fail with that reason;
        `hang_up_in_queue_s`: the caller hangs up this long after first being queued (an
        agent who answers first keeps them); `library`: flows by name, for Subflow and
        GoTo activities."""
        self.flow = load_flow(flow)
        self.library = {name: load_flow(item) for name, item in (library or {}).items()}
        self._queue_map = queues
        self._ani, self._dnis = "", ""
        self.engine = self._engine(self.flow, variables)
        self.media_streams: list[str] = []
        """Where the call's audio was streamed (start_media_stream)."""
        self.flows_run = [self.flow.name]
        """The flows the call went through (GoTo appends)."""
        self.queue_stats = dict(queue_stats or {})
        self.bots = dict(bots or {})
        self.transfer_error = transfer_error
        self.callbacks: list[RequestCallback] = []
        self.transfers: list[Transfer] = []
        self.http = http if http is not None else {}
        self.now = start_time
        self.start_time = start_time
        self.state: CallState | None = None
        self.commands: list[Command] = []
        self.timeline: list[tuple[float, Command]] = []
        self.event_log: list[tuple[float, Event]] = []
        self.prompts: list[str] = []
        self.requests: list[HttpRequest] = []
        self.queued: list[str] = []
        self.hung_up = False
        self.disconnected = False
        self._heap: list[_Pending] = []
        self._seq = 0
        self._media: tuple[str, bool, _Pending | None] | None = None
        self._timers: dict[str, _Pending] = {}
        self._in_queue: str | None = None
        self._enqueued_once = False
        self._http_calls: dict[str, int] = {}
        self._occurrences: dict[str, int] = {}
        check_scripts(self.flow, http=self.http, caller=caller, library=list(self.library.values()))
        self._caller_script = list(caller)
        self._waiting_for_prompt: CallerAction | None = None
        self._next_caller_action()
        self._agent_script = list(agent)
        self._queue_hang_up = (
            hang_up(after=hang_up_in_queue_s) if hang_up_in_queue_s is not None else None
        )
        self.steps: list[tuple[float, Event, tuple[Command, ...]]] = []
        """Every engine step: (seconds since the call started, event, commands)."""

    def _engine(self, flow: Flow, variables: dict[str, Any] | None = None) -> Engine:
        subflows, _ = subflows_needed(flow, self.library)
        return Engine(
            flow,
            variables=variables,
            queues=self._queue_map,
            subflows=subflows,
            goto_targets=self.library,
        )

    def _go_to(self, name: str) -> None:
        """GoTo: the call goes on in the library's flow `name`, from its start."""
        old = self.state
        assert old is not None
        self.flows_run.append(name)
        self.engine = self._engine(self.library[name])
        for pending in self._timers.values():
            pending.cancelled = True
        self._timers.clear()
        event = CallStarted(call_id=old.call_id, ani=self._ani, dnis=self._dnis, channel="sim")
        self.state, commands = self.engine.start(event, self.now, history=old.trace)
        self.steps.append((round(self.now - self.start_time, 6), event, tuple(commands)))
        self._carry_out(commands)

    # -- driving -------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.state is not None and self.state.finished

    def start(
        self, *, ani: str = "+14155550123", dnis: str = "+18005550100", call_id: str = "sim-call"
    ) -> list[Command]:
        event = CallStarted(call_id=call_id, ani=ani, dnis=dnis, channel="sim")
        self._ani, self._dnis = ani, dnis
        self.event_log.append((self.now, event))
        self.state, commands = self.engine.start(event, self.now)
        self.steps.append((0.0, event, tuple(commands)))
        self._carry_out(commands)
        return commands

    def send(self, event: Event) -> list[Command]:
        """Give the engine `event` now (what a channel or the center would do)."""
        if self.state is None:
            raise RuntimeError("start the call first")
        self.event_log.append((self.now, event))
        self.state, commands = self.engine.step(self.state, event, self.now)
        self.steps.append((round(self.now - self.start_time, 6), event, tuple(commands)))
        self._carry_out(commands)
        return commands

    def advance(self, seconds: float) -> None:
        """Let `seconds` of simulated time pass, delivering whatever falls due."""
        self.run_until(self.now + seconds)

    def run(self, max_time: float = 600.0) -> SimulationResult:
        """Run until the call is finished or `max_time` seconds after its start."""
        self.run_until(self.start_time + max_time)
        return self.result()

    def run_until(self, deadline: float) -> None:
        while self._heap and not self.finished:
            if self._heap[0].at > deadline:
                break
            pending = heapq.heappop(self._heap)
            if pending.cancelled:
                continue
            self.now = max(self.now, pending.at)
            self._happen(pending.what)
        if not self.finished:
            self.now = max(self.now, deadline)

    def result(self) -> SimulationResult:
        if self.state is None:
            raise RuntimeError("start the call first")
        state = self.state
        variables: dict[str, Any] = dict(state.variables)
        for namespace, values in state.outputs.items():
            for key, value in values.items():
                variables[f"{namespace}.{key}"] = value
        return SimulationResult(
            path=[e.activity for e in state.trace if e.kind not in _NOT_ACTIVITIES],
            prompts=list(self.prompts),
            requests=list(self.requests),
            variables=variables,
            screen_pops=[c for c in self.commands if isinstance(c, ScreenPop)],
            commands=list(self.commands),
            timeline=list(self.timeline),
            trace=list(state.trace),
            disconnected=self.disconnected,
            hung_up=self.hung_up,
            queued=list(self.queued),
            callbacks=list(self.callbacks),
            transfers=list(self.transfers),
            stubs=[e.inputs.get("stub", "?") for e in state.trace if e.kind == "unsupported"],
            finished=state.finished,
            event_log=list(self.event_log),
            state=state,
            elapsed_s=round(self.now - self.start_time, 6),
        )

    # -- the world -----------------------------------------------------------------------

    def _schedule(self, at: float, what: _Happening) -> _Pending:
        self._seq += 1
        pending = _Pending(at=at, seq=self._seq, what=what)
        heapq.heappush(self._heap, pending)
        return pending

    def _happen(self, what: _Happening) -> None:
        match what:
            case CallerAction():
                self._caller_acts(what)
            case AgentAction():
                self._center_acts(what)
            case PromptDone():
                self._media = None
                self.send(what)
            case TimerFired():
                self._timers.pop(what.timer_id, None)
                self.send(what)
            case HttpCompleted():  # delivered even after a hang-up: contact_ended may wait
                self.send(what)
            case QueueLookedUp() | TransferDone() | VirtualAgentEnded():
                self.send(what)
            case _:
                assert_never(what)

    def _caller_here(self) -> bool:
        return not (self.hung_up or self.disconnected)

    def _next_caller_action(self) -> None:
        """Arm the caller's next action: each comes after the one before it."""
        if not self._caller_script:
            return
        action = self._caller_script.pop(0)
        if action.when is None:
            self._schedule(self.now + action.after, action)
        else:
            self._waiting_for_prompt = action

    def _caller_acts(self, action: CallerAction) -> None:
        if not self._caller_here() or self.finished:
            return
        if action is self._queue_hang_up:
            if self._in_queue is None:
                return  # an agent answered (or the queue let go) first: the caller stays
        else:
            self._next_caller_action()
        match action.does:
            case CallerDoes.HANG_UP:
                self.hung_up = True
                self._stop_media()
                self.send(CallerHungUp())
            case CallerDoes.PRESS:
                media = self._media
                self.send(DigitsCollected(digits=action.digits))
                if media is not None and media[1] and self._media is media:
                    # Barge-in: the channel stops an interruptible prompt and says so.
                    self._stop_media()
                    self.send(PromptDone(prompt_id=media[0], interrupted=True))
            case _:
                assert_never(action.does)

    def _center_acts(self, action: AgentAction) -> None:
        if self.finished or self.state is None or self.state.ended:
            return
        queue = self._in_queue
        match action.does:
            case AgentDoes.ANSWER:
                if queue is not None:
                    self._in_queue = None
                    self.send(AgentOffered(agent_id=action.agent_id, agent_name=action.name))
                    self.send(AgentAnswered(agent_id=action.agent_id, agent_name=action.name))
            case AgentDoes.HANG_UP:
                self.send(AgentDisconnected(agent_id=action.agent_id))
            case AgentDoes.QUEUE_UPDATE:
                if queue is not None:
                    self.send(
                        QueueUpdated(
                            queue=queue, position=action.position, estimated_wait_s=action.wait_s
                        )
                    )
            case AgentDoes.QUEUE_FAIL:
                if queue is not None:
                    self._in_queue = None
                    self.send(QueueFailed(queue=queue, reason=action.reason))
            case AgentDoes.CALLBACK_FAIL:
                if self.callbacks:
                    self._in_queue = None
                    self.send(CallbackFailed(reason=action.reason))
            case _:
                assert_never(action.does)

    def _stop_media(self) -> None:
        if self._media is not None and self._media[2] is not None:
            self._media[2].cancelled = True
        self._media = None

    def _carry_out(self, commands: list[Command]) -> None:
        for command in commands:
            self.commands.append(command)
            self.timeline.append((round(self.now - self.start_time, 6), command))
            self._carry_out_one(command)

    def _carry_out_one(self, command: Command) -> None:
        match command:
            case Play():
                self._stop_media()
                self.prompts.append(command.text or command.audio or "")
                done = self._schedule(
                    self.now + speech_seconds(command.text), PromptDone(prompt_id=command.prompt_id)
                )
                self._media = (command.prompt_id, command.interruptible, done)
                self._prompt_started(command.prompt_id)
            case PlayMusic():
                self._stop_media()
                self._media = (command.prompt_id, False, None)
            case StopMedia():
                self._stop_media()
            case HttpRequest():
                self.requests.append(command)
                self._answer_http(command)
            case Enqueue():
                self.queued.append(command.queue)
                self._in_queue = command.queue
                if not self._enqueued_once:
                    self._enqueued_once = True
                    for action in self._agent_script:
                        self._schedule(self.now + action.after, action)
                    if self._queue_hang_up is not None:
                        self._schedule(self.now + self._queue_hang_up.after, self._queue_hang_up)
            case Dequeue():
                self._in_queue = None
            case SetTimer():
                self._timers[command.timer_id] = self._schedule(
                    command.at, TimerFired(timer_id=command.timer_id)
                )
            case CancelTimer():
                pending = self._timers.pop(command.timer_id, None)
                if pending is not None:
                    pending.cancelled = True
            case Disconnect():
                self.disconnected = True
                self._stop_media()
            case LookupQueue():
                self._schedule(self.now + 0.05, self._queue_stats(command))
            case RequestCallback():
                self.callbacks.append(command)
            case Transfer():
                self.transfers.append(command)
                self._stop_media()
                error = self.transfer_error
                self._schedule(
                    self.now + 1.0,
                    TransferDone(transfer_id=command.transfer_id, ok=error is None, error=error),
                )
            case StartVirtualAgent():
                self._schedule_bot(command)
            case GoToFlow():
                self._go_to(command.flow)
            case StartMediaStream():
                self.media_streams.append(command.destination)
            case CallFinished() | ScreenPop() | Notice():
                pass  # recorded in `commands`; nothing happens in the simulated world
            case _:
                assert_never(command)

    def _prompt_started(self, prompt_id: str) -> None:
        if ":" in prompt_id:
            return  # a menu's no-input / invalid prompt, not the menu itself
        activity = prompt_id.split("#", 1)[0]
        action = self._waiting_for_prompt
        if action is not None and (
            action.when == activity
            or (action.when == NEXT_MENU and self._kind(activity) in MENU_KINDS)
        ):
            self._waiting_for_prompt = None
            self._schedule(self.now + action.after, action)

    def _kind(self, activity: str) -> str | None:
        found = self.flow.activities.get(activity)
        if found is None:
            for event_flow in self.flow.event_flows.values():
                found = event_flow.activities.get(activity, found)
        return found.kind if found is not None else None

    def _queue_stats(self, command: LookupQueue) -> QueueLookedUp:
        stats = self.queue_stats.get(command.request_id.split("#", 1)[0], QueueStats())
        if stats.error is not None:
            return QueueLookedUp(request_id=command.request_id, ok=False, error=stats.error)
        position = stats.position
        if position is None:
            position = 1 if self._in_queue == command.queue else 0
        return QueueLookedUp(
            request_id=command.request_id,
            position=position,
            estimated_wait_s=stats.estimated_wait_s,
            calls_queued=stats.calls_queued,
            agents_logged_on=stats.agents_logged_on,
            agents_available=stats.agents_available,
            oldest_wait_s=stats.oldest_wait_s,
        )

    def _schedule_bot(self, command: StartVirtualAgent) -> None:
        self._stop_media()
        reply = self.bots.get(command.session_id.split("#", 1)[0])
        if reply is None:
            event = VirtualAgentEnded(
                session_id=command.session_id,
                outcome=VirtualAgentOutcome.ERROR,
                error=f"simulator: no virtual agent scripted for connector {command.connector}",
            )
            self._schedule(self.now + 0.05, event)
            return
        self._schedule(
            self.now + reply.after,
            VirtualAgentEnded(
                session_id=command.session_id,
                outcome=VirtualAgentOutcome(reply.outcome.value),
                metadata=dict(reply.metadata),
                state_event=reply.state_event,
                error=reply.error,
            ),
        )

    def _answer_http(self, request: HttpRequest) -> None:
        activity = request.request_id.split("#", 1)[0]
        reply = self._reply_for(activity, request)
        if reply.error is not None:
            event = HttpCompleted(
                request_id=request.request_id, outcome=HttpOutcome.ERROR, error=reply.error
            )
            delay = reply.delay_s
        elif reply.delay_s > request.timeout_s:
            event = HttpCompleted(
                request_id=request.request_id,
                outcome=HttpOutcome.TIMEOUT,
                error=f"no response within {request.timeout_s}s",
            )
            delay = request.timeout_s
        else:
            event = HttpCompleted(
                request_id=request.request_id,
                outcome=HttpOutcome.SUCCESS,
                status=reply.status,
                body=reply.body,
                headers=dict(reply.headers),
                elapsed_ms=reply.delay_s * 1000,
            )
            delay = reply.delay_s
        self._schedule(self.now + delay, event)

    def _reply_for(self, activity: str, request: HttpRequest) -> HttpReply:
        scripts = self.http
        if callable(scripts):
            return scripts(request)
        script = scripts.get(activity)
        if script is None:
            return HttpReply.failure(f"simulator: no HTTP reply scripted for {activity}")
        if isinstance(script, HttpReply):
            return script
        if callable(script):
            return script(request)
        count = self._http_calls.get(activity, 0)
        self._http_calls[activity] = count + 1
        return script[min(count, len(script) - 1)]


_NOT_ACTIVITIES = frozenset({"ignored", "event", "global_error", "engine_error", "queue_fallback"})
