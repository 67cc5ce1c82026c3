"""The state of one call, as the engine keeps it between events. Layer 2 (engine).

Everything here is plain data that survives a JSON round trip (`CallState.to_json`
/ `CallState.from_json`), so a call can be parked in memory, SQLite or Redis and
resumed on another node with exactly the same future.

A call runs one or more *cursors*: the main flow's (`CallState.main`) and those of
event flows that are waiting for something (`CallState.side`, e.g. a
`contact_ended` flow posting a wrap-up record after the caller hung up). A
cursor knows its flow, its activity and what it waits for.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from dipflow.flow.expressions import CLOCK

MAIN_FLOW = "main"
DEFAULT_ERROR_FLOW = "default_error"
SUBFLOW_PREFIX = "subflow:"
"""Graphs `subflow:<name>`: the main graph of a subflow the flow calls."""
"""The built-in global error handler (used when the flow has no `global_error` flow)."""


class Wait(StrEnum):
    """What a cursor is waiting for."""

    NONE = "none"
    PROMPT = "prompt"
    """`PromptDone` of a play_message prompt."""
    MENU = "menu"
    """A menu: see `MenuPhase`."""
    HTTP = "http"
    """`HttpCompleted` of a data dip."""
    MUSIC = "music"
    """Music on hold: a `duration_s` timer, or an agent."""
    APOLOGY = "apology"
    """The default error handler's apology, before it hangs up."""
    COLLECT = "collect"
    """A collect_digits activity: its prompt, then the caller's keys (see `MenuPhase`)."""
    LOOKUP = "lookup"
    """`QueueLookedUp` of a queue_lookup."""
    TRANSFER = "transfer"
    """`TransferDone` of a blind transfer."""
    BOT = "bot"
    """`VirtualAgentEnded` of a virtual-agent conversation."""


class MenuPhase(StrEnum):
    PROMPT = "prompt"
    """The menu prompt is playing; digits barge in (interruptible) or wait (buffered)."""
    RETRY = "retry"
    """The no-input / invalid prompt is playing; the menu prompt follows."""
    COLLECT = "collect"
    """Prompt finished, waiting for a digit until the entry timer fires."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceEntry:
    """One activity run (or one notable engine decision) of a call.

    `flow` is "main" or the event flow's name; secure variables appear as "***".
    `ended_at` is None while the activity is still waiting.
    """

    flow: str
    activity: str
    kind: str
    started_at: float
    ended_at: float | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    output_taken: str | None = None
    error: str | None = None


@dataclass(slots=True, kw_only=True)
class Frame:
    """A subflow activity waiting for its subflow to end (a cursor's return address)."""

    flow: str
    activity: str


@dataclass(slots=True, kw_only=True)
class Cursor:
    """Where one flow of the call stands."""

    flow: str
    activity: str | None
    wait: Wait = Wait.NONE
    wait_id: str | None = None
    """The prompt or request id the cursor waits for (stale ids are ignored)."""
    timer_id: str | None = None
    kind: str = ""
    """Kind of the running activity; empty between activities."""
    started_at: float = 0.0
    inputs: dict[str, Any] = field(default_factory=dict)
    """The running activity's rendered inputs, for its trace entry."""
    entry: int = -1
    """Index in `CallState.trace` of the running activity's open entry, once it waits."""
    menu_phase: MenuPhase | None = None
    menu_failures: int = 0
    """No-input and invalid attempts so far in the current menu."""
    digits: str = ""
    """Digits typed ahead while a non-interruptible menu prompt played."""
    frames: list[Frame] = field(default_factory=list)
    """Subflows the cursor is in, outermost first (it runs `subflow:<name>` graphs)."""


@dataclass(slots=True, kw_only=True)
class QueueInfo:
    queue: str
    flow: str
    """The flow whose activity queued the call (its `error` output is taken on failure)."""
    activity: str | None
    """None when the default error handler queued the call."""
    fallback_used: bool = False


@dataclass(slots=True, kw_only=True)
class CallbackInfo:
    """A courtesy callback the flow asked for: the contact waits in `queue` without its
    caller; `connected` once an agent has taken it."""

    queue: str
    number: str
    caller_id: str | None = None
    connected: bool = False


@dataclass(slots=True, kw_only=True)
class AgentInfo:
    agent_id: str
    name: str


@dataclass(slots=True, kw_only=True)
class CallState:
    """A call's state. The engine mutates and returns the state it is given:
    serialise it first (`to_json`) when the old one is still needed."""

    call_id: str
    variables: dict[str, Any] = field(default_factory=dict)
    """Flow variables by name."""
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Activity outputs by namespace: `NewPhoneContact.ANI`, `GetCustomer.httpStatusCode`,
    `Queue.position`, `Agent.name`..."""
    seq: int = 0
    """Counter for deterministic prompt, request and timer ids."""
    main: Cursor | None = None
    side: list[Cursor] = field(default_factory=list)
    timers: dict[str, float] = field(default_factory=dict)
    """Armed timers: id -> absolute time."""
    queue: QueueInfo | None = None
    agent: AgentInfo | None = None
    offered: AgentInfo | None = None
    connected: bool = False
    """The caller talks to an agent."""
    hung_up: bool = False
    disconnected: bool = False
    ended: bool = False
    """The contact has ended (contact_ended has started)."""
    finished: bool = False
    """`CallFinished` was emitted; every further event is ignored."""
    default_queue_tried: bool = False
    media_failures: int = 0
    """Prompts and music that failed in a row, with nothing played, pressed or timed out
    in between (see `dipflow.engine.core.MAX_MEDIA_FAILURES`)."""
    http_started: dict[str, str] = field(default_factory=dict)
    """`http_start` activity id -> the request id it sent (until an `http_join` takes it)."""
    http_deadlines: dict[str, float] = field(default_factory=dict)
    """request id -> when its budget ends (engine clock), for the join's guard timer."""
    http_results: dict[str, dict[str, Any]] = field(default_factory=dict)
    """request id -> its `HttpCompleted` (as a dict), arrived before anyone joined it."""
    callback: CallbackInfo | None = None
    caller_id: str | None = None
    """Set by set_caller_id: the number shown on transfers and callbacks."""
    survey: str | None = None
    """Set by feedback: the survey to run when the agent hangs up."""
    clock_offset: float = 0.0
    """Wall-clock Unix seconds minus the engine's `now` (set from `CallStarted.started_at`):
    `now()` in a template is `now + clock_offset`, computed from the event, never read."""
    trace: list[TraceEntry] = field(default_factory=list)

    # -- convenience views of the active cursor --------------------------------------

    def _active(self) -> Cursor | None:
        if self.main is not None:
            return self.main
        return self.side[-1] if self.side else None

    @property
    def flow(self) -> str | None:
        cursor = self._active()
        return cursor.flow if cursor else None

    @property
    def activity(self) -> str | None:
        cursor = self._active()
        return cursor.activity if cursor else None

    @property
    def waiting_for(self) -> Wait:
        cursor = self._active()
        return cursor.wait if cursor else Wait.NONE

    @property
    def menu_tries(self) -> int:
        """Failed attempts (no input, invalid) of the menu the caller is in, else 0."""
        cursor = self._active()
        return cursor.menu_failures if cursor and cursor.wait is Wait.MENU else 0

    @property
    def digit_buffer(self) -> str:
        """Digits typed ahead during a non-interruptible menu prompt."""
        cursor = self._active()
        return cursor.digits if cursor else ""

    def context(self, now: float | None = None) -> dict[str, Any]:
        """The names templates see: activity output namespaces, then flow variables; with
        `now`, the call's wall clock for `now()`."""
        context = {**self.outputs, **self.variables}
        if now is not None:
            context[CLOCK] = now + self.clock_offset
        return context

    # -- JSON ------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, text: str) -> CallState:
        data = json.loads(text)
        return cls(
            call_id=data["call_id"],
            variables=data["variables"],
            outputs=data["outputs"],
            seq=data["seq"],
            main=_cursor(data["main"]),
            side=[c for c in (_cursor(raw) for raw in data["side"]) if c is not None],
            timers=data["timers"],
            queue=QueueInfo(**data["queue"]) if data["queue"] else None,
            agent=AgentInfo(**data["agent"]) if data["agent"] else None,
            offered=AgentInfo(**data["offered"]) if data["offered"] else None,
            connected=data["connected"],
            hung_up=data["hung_up"],
            disconnected=data["disconnected"],
            ended=data["ended"],
            finished=data["finished"],
            default_queue_tried=data["default_queue_tried"],
            media_failures=data.get("media_failures", 0),
            http_started=data.get("http_started", {}),
            http_deadlines=data.get("http_deadlines", {}),
            http_results=data.get("http_results", {}),
            clock_offset=data.get("clock_offset", 0.0),
            callback=CallbackInfo(**data["callback"]) if data.get("callback") else None,
            caller_id=data.get("caller_id"),
            survey=data.get("survey"),
            trace=[TraceEntry(**entry) for entry in data["trace"]],
        )


def _cursor(raw: dict[str, Any] | None) -> Cursor | None:
    if raw is None:
        return None
    phase = raw.get("menu_phase")
    return Cursor(
        flow=raw["flow"],
        activity=raw["activity"],
        wait=Wait(raw["wait"]),
        wait_id=raw["wait_id"],
        timer_id=raw["timer_id"],
        kind=raw["kind"],
        started_at=raw["started_at"],
        inputs=raw["inputs"],
        entry=raw["entry"],
        menu_phase=MenuPhase(phase) if phase else None,
        menu_failures=raw["menu_failures"],
        digits=raw["digits"],
        frames=[Frame(**frame) for frame in raw.get("frames", [])],
    )
