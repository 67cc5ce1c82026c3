"""A readable account of one call, built from the engine steps the session observed.

Used by `dipflow call` (rich table or JSON) and by tests. Each entry says who did
what: the IVR spoke, the caller pressed, an HTTP dip returned 200 in 14 ms, the
call queued, an agent answered, a screen pop opened.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from dipflow.engine.commands import (
    CallFinished,
    Disconnect,
    Enqueue,
    HttpRequest,
    Notice,
    Play,
    PlayMusic,
    ScreenPop,
)
from dipflow.engine.events import (
    AgentAnswered,
    AgentDisconnected,
    AgentOffered,
    CallerHungUp,
    DigitsCollected,
    HttpCompleted,
    PromptFailed,
    QueueFailed,
    QueueUpdated,
)
from dipflow.runtime.session import StepRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptEntry:
    at: float
    """Seconds since the call started."""
    who: str
    """ivr, caller, http, queue, agent, desktop, system."""
    kind: str
    text: str
    detail: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _target(request: HttpRequest) -> str:
    where = request.path if request.path is not None else (request.url or "")
    prefix = f"{request.connector}:" if request.connector else ""
    return f"{request.method} {prefix}{where}"


def build_transcript(steps: list[StepRecord]) -> list[TranscriptEntry]:
    entries: list[TranscriptEntry] = []
    requests: dict[str, HttpRequest] = {}

    def add(at: float, who: str, kind: str, text: str, **detail: Any) -> None:
        entries.append(TranscriptEntry(at=at, who=who, kind=kind, text=text, detail=detail or None))

    for step in steps:
        event, at = step.event, step.at
        if isinstance(event, DigitsCollected):
            add(at, "caller", "digits", f"presses {event.digits}", digits=event.digits)
        elif isinstance(event, CallerHungUp):
            add(at, "caller", "hangup", "hangs up")
        elif isinstance(event, HttpCompleted):
            request = requests.get(event.request_id)
            target = _target(request) if request is not None else event.request_id
            status = event.status if event.status is not None else event.outcome.value
            note = f" ({event.error})" if event.error else ""
            add(
                at,
                "http",
                "response",
                f"{target} -> {status} in {event.elapsed_ms:.0f} ms{note}",
                outcome=event.outcome.value,
                status=event.status,
                elapsed_ms=round(event.elapsed_ms, 1),
                attempts=event.attempts,
            )
        elif isinstance(event, QueueUpdated):
            wait = f", about {event.estimated_wait_s:.0f} s" if event.estimated_wait_s >= 0 else ""
            add(at, "queue", "position", f"position {event.position} in {event.queue}{wait}")
        elif isinstance(event, QueueFailed):
            add(at, "queue", "failed", f"left {event.queue}: {event.reason}")
        elif isinstance(event, AgentOffered):
            add(at, "agent", "offered", f"offered to {event.agent_name} ({event.agent_id})")
        elif isinstance(event, AgentAnswered):
            add(at, "agent", "answered", f"{event.agent_name} ({event.agent_id}) answers")
        elif isinstance(event, AgentDisconnected):
            add(at, "agent", "hangup", f"{event.agent_id} hangs up")
        elif isinstance(event, PromptFailed):
            add(at, "system", "prompt_failed", f"prompt failed: {event.reason}")
        for command in step.commands:
            if isinstance(command, Play):
                text = command.text if command.text is not None else f"[audio {command.audio}]"
                add(at, "ivr", "say", text, language=command.language)
            elif isinstance(command, PlayMusic):
                add(at, "ivr", "music", f"[music on hold: {command.audio}]")
            elif isinstance(command, HttpRequest):
                requests[command.request_id] = command
                add(
                    at,
                    "http",
                    "request",
                    _target(command),
                    query=dict(command.query),
                    timeout_s=command.timeout_s,
                )
            elif isinstance(command, Enqueue):
                add(at, "queue", "enqueue", f"queued to {command.queue}", data=dict(command.data))
            elif isinstance(command, ScreenPop):
                add(
                    at,
                    "desktop",
                    "screen_pop",
                    f"{command.label}: {command.url}",
                    url=command.url,
                    agent_id=command.agent_id,
                )
            elif isinstance(command, Disconnect):
                add(at, "ivr", "disconnect", f"hangs up ({command.reason})")
            elif isinstance(command, Notice):
                add(at, "system", command.kind, command.text)
            elif isinstance(command, CallFinished):
                add(at, "system", "finished", "call finished")
    return entries
