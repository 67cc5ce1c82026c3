"""A readable account of one call, built from the engine steps the session observed.
Layer 5 (runtime).

Used by `dipflow call` (rich table or JSON) and by tests. Each entry says who did
what: the IVR spoke, the caller pressed, an HTTP dip returned 200 in 14 ms, the
call queued, an agent answered, a screen pop opened. Both dispatches are exhaustive
(`assert_never`): a new event or command type is reported by mypy here until the
transcript says what it shows of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, assert_never

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
    PromptDone,
    PromptFailed,
    QueueFailed,
    QueueLookedUp,
    QueueUpdated,
    TimerFired,
    TransferDone,
    VirtualAgentEnded,
)
from dipflow.runtime.session import StepRecord


class Party(StrEnum):
    """Who an entry is about."""

    IVR = "ivr"
    CALLER = "caller"
    HTTP = "http"
    QUEUE = "queue"
    AGENT = "agent"
    DESKTOP = "desktop"
    SYSTEM = "system"


class TranscriptKind(StrEnum):
    """What happened (the `kind` of an entry, in `dipflow call --json` too)."""

    SAY = "say"
    MUSIC = "music"
    DISCONNECT = "disconnect"
    DIGITS = "digits"
    HANGUP = "hangup"
    REQUEST = "request"
    RESPONSE = "response"
    ENQUEUE = "enqueue"
    POSITION = "position"
    FAILED = "failed"
    OFFERED = "offered"
    ANSWERED = "answered"
    SCREEN_POP = "screen_pop"
    PROMPT_FAILED = "prompt_failed"
    FINISHED = "finished"
    STUB = "stub"
    """A call reached an activity an `--allow-partial` import could not bring over."""
    NOTICE = "notice"
    CALLBACK = "callback"
    TRANSFER = "transfer"
    VIRTUAL_AGENT = "virtual_agent"
    QUEUE_LOOKUP = "queue_lookup"
    GOTO = "goto"
    """The call went on in another flow (GoTo)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptEntry:
    at: float
    """Seconds since the call started."""
    who: Party
    kind: TranscriptKind
    text: str
    detail: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["who"], data["kind"] = self.who.value, self.kind.value
        return data


def _target(request: HttpRequest) -> str:
    where = request.path if request.path is not None else (request.url or "")
    prefix = f"{request.connector}:" if request.connector else ""
    return f"{request.method} {prefix}{where}"


class _Builder:
    def __init__(self) -> None:
        self.entries: list[TranscriptEntry] = []
        self._requests: dict[str, HttpRequest] = {}

    def add(self, at: float, who: Party, kind: TranscriptKind, text: str, **detail: Any) -> None:
        self.entries.append(
            TranscriptEntry(at=at, who=who, kind=kind, text=text, detail=detail or None)
        )

    def event(self, at: float, event: Event) -> None:
        match event:
            case DigitsCollected():
                self.add(
                    at,
                    Party.CALLER,
                    TranscriptKind.DIGITS,
                    f"presses {event.digits}",
                    digits=event.digits,
                )
            case CallerHungUp():
                self.add(at, Party.CALLER, TranscriptKind.HANGUP, "hangs up")
            case HttpCompleted():
                request = self._requests.get(event.request_id)
                target = _target(request) if request is not None else event.request_id
                status = event.status if event.status is not None else event.outcome.value
                note = f" ({event.error})" if event.error else ""
                self.add(
                    at,
                    Party.HTTP,
                    TranscriptKind.RESPONSE,
                    f"{target} -> {status} in {event.elapsed_ms:.0f} ms{note}",
                    outcome=event.outcome.value,
                    status=event.status,
                    elapsed_ms=round(event.elapsed_ms, 1),
                    attempts=event.attempts,
                )
            case QueueUpdated():
                wait = (
                    f", about {event.estimated_wait_s:.0f} s" if event.estimated_wait_s >= 0 else ""
                )
                text = f"position {event.position} in {event.queue}{wait}"
                self.add(at, Party.QUEUE, TranscriptKind.POSITION, text)
            case QueueFailed():
                text = f"left {event.queue}: {event.reason}"
                self.add(at, Party.QUEUE, TranscriptKind.FAILED, text)
            case AgentOffered():
                text = f"offered to {event.agent_name} ({event.agent_id})"
                self.add(at, Party.AGENT, TranscriptKind.OFFERED, text)
            case AgentAnswered():
                text = f"{event.agent_name} ({event.agent_id}) answers"
                self.add(at, Party.AGENT, TranscriptKind.ANSWERED, text)
            case AgentDisconnected():
                self.add(at, Party.AGENT, TranscriptKind.HANGUP, f"{event.agent_id} hangs up")
            case PromptFailed():
                text = f"prompt failed: {event.reason}"
                self.add(at, Party.SYSTEM, TranscriptKind.PROMPT_FAILED, text)
            case AniUpdated():
                self.add(at, Party.SYSTEM, TranscriptKind.NOTICE, f"caller's number: {event.ani}")
            case CallbackFailed():
                text = f"callback failed: {event.reason}"
                self.add(at, Party.QUEUE, TranscriptKind.CALLBACK, text)
            case TransferDone():
                text = "transferred" if event.ok else f"transfer failed: {event.error}"
                self.add(at, Party.IVR, TranscriptKind.TRANSFER, text)
            case VirtualAgentEnded():
                note = f" ({event.error})" if event.error else ""
                text = f"virtual agent: {event.outcome.value}{note}"
                self.add(at, Party.IVR, TranscriptKind.VIRTUAL_AGENT, text)
            case QueueLookedUp():
                text = (
                    f"position {event.position}, {event.calls_queued} queued"
                    if event.ok
                    else f"queue statistics failed: {event.error}"
                )
                self.add(at, Party.QUEUE, TranscriptKind.QUEUE_LOOKUP, text)
            case CallStarted() | PromptDone() | TimerFired():
                pass  # the call's start is the table itself; the rest is engine plumbing
            case _:
                assert_never(event)

    def command(self, at: float, command: Command) -> None:
        match command:
            case Play():
                text = command.text if command.text is not None else f"[audio {command.audio}]"
                self.add(
                    at,
                    Party.IVR,
                    TranscriptKind.SAY,
                    text,
                    language=command.language,
                    voice=command.voice,
                    segments=[
                        {"text": s.text, "language": s.language, "voice": s.voice}
                        for s in command.segments
                    ],
                )
            case PlayMusic():
                text = f"[music on hold: {command.audio}]"
                self.add(at, Party.IVR, TranscriptKind.MUSIC, text)
            case HttpRequest():
                self._requests[command.request_id] = command
                self.add(
                    at,
                    Party.HTTP,
                    TranscriptKind.REQUEST,
                    _target(command),
                    query=dict(command.query),
                    timeout_s=command.timeout_s,
                )
            case Enqueue():
                self.add(
                    at,
                    Party.QUEUE,
                    TranscriptKind.ENQUEUE,
                    f"queued to {command.queue}",
                    data=dict(command.data),
                )
            case ScreenPop():
                self.add(
                    at,
                    Party.DESKTOP,
                    TranscriptKind.SCREEN_POP,
                    f"{command.label}: {command.url}",
                    url=command.url,
                    agent_id=command.agent_id,
                )
            case Disconnect():
                text = f"hangs up ({command.reason})"
                self.add(at, Party.IVR, TranscriptKind.DISCONNECT, text)
            case CallFinished():
                self.add(at, Party.SYSTEM, TranscriptKind.FINISHED, "call finished")
            case Notice():
                kind = TranscriptKind.STUB if command.kind == "stub" else TranscriptKind.NOTICE
                self.add(at, Party.SYSTEM, kind, command.text)
            case RequestCallback():
                text = f"call back {command.number} (place kept in {command.queue})"
                self.add(at, Party.QUEUE, TranscriptKind.CALLBACK, text)
            case Transfer():
                self.add(
                    at, Party.IVR, TranscriptKind.TRANSFER, f"transfer to {command.destination}"
                )
            case StartVirtualAgent():
                text = f"virtual agent {command.connector}"
                self.add(at, Party.IVR, TranscriptKind.VIRTUAL_AGENT, text)
            case LookupQueue():
                text = f"statistics of {command.queue}"
                self.add(at, Party.QUEUE, TranscriptKind.QUEUE_LOOKUP, text)
            case GoToFlow():
                self.add(at, Party.IVR, TranscriptKind.GOTO, f"go to flow {command.flow}")
            case StartMediaStream():
                text = f"caller's audio streamed to {command.destination}"
                self.add(at, Party.SYSTEM, TranscriptKind.NOTICE, text)
            case StopMedia() | Dequeue() | SetTimer() | CancelTimer():
                pass  # heard (or not) through the entries around them
            case _:
                assert_never(command)


def build_transcript(steps: list[StepRecord]) -> list[TranscriptEntry]:
    builder = _Builder()
    for step in steps:
        builder.event(step.at, step.event)
        for command in step.commands:
            builder.command(step.at, command)
    return builder.entries
