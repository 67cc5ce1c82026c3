"""The flow model: what a flow file says, validated by pydantic. Layer 1 (flow).

A flow is a graph of activities. Each activity names its kind (the Webex Flow
Designer activity it corresponds to) and wires its outputs to other activities
with `on: {output: activity_id}`; `next` is shorthand for the output `out`
(or `success` for HTTP requests). Event flows are small graphs of their own that
run when the contact center reports an event (agent answered, contact ended...).

Templates: every string field documented as a template is rendered with the
sandboxed Jinja2 environment in `dipflow.flow.expressions` against the call's
variables, so `{{ NewPhoneContact.ANI | replace({"+": ""}) }}` works as in Webex.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dipflow.flow.sayas import SayAs

FLOW_FORMAT_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariableType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    JSON = "json"


class Variable(_Strict):
    """A flow variable (Webex: flow variable)."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: VariableType = VariableType.STRING
    default: Any = None
    description: str = ""
    agent_visible: bool = False
    """Shown to the agent on the desktop as call-associated data (Webex `isCAD`)."""
    desktop_label: str | None = None
    """Label on the desktop; the variable name when empty."""
    agent_editable: bool = False
    reportable: bool = False
    secure: bool = False
    """Never logged, never put in traces, never shown (Webex `isSecure`)."""
    from_connector: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+\.[a-z][a-z0-9_]*$")
    """`<connector>.<setting>`: an organisation setting held once, on the connector
    (`dynamics.app_id`, `dynamics.phone_columns`, ...). When the flow runs with a
    configuration, the value comes from there (a flow binding's `variables:` still
    override it); `default` serves only runs without one (the emulator demo)."""

    @property
    def connector_setting(self) -> tuple[str, str] | None:
        """(connector name, setting name) of `from_connector`."""
        if self.from_connector is None:
            return None
        connector, _, setting = self.from_connector.rpartition(".")
        return connector, setting


class PromptSegment(_Strict):
    """One part of a prompt spoken in its own language and voice (see `Prompt.segments`)."""

    text: str
    """A template."""
    language: str | None = None
    """BCP 47 tag (a template); the prompt's language when empty."""
    voice: str | None = None
    """A voice of the TTS engine (a template); the prompt's voice when empty."""
    say_as: SayAs | None = None
    """Read the rendered text as digits, a telephone number, a date, a time or an amount."""


class Prompt(_Strict):
    """Something to say: TTS text (a template) or an audio file, with language and voice.

    `segments` speaks several parts in turn, each in its own language and voice
    ("For English press 1." then "Für Deutsch drücken Sie die 2."); it replaces `text`.
    `text: ""` is an empty prompt (a Flow Designer activity left unconfigured): nothing
    plays and the activity goes on at once; the linter reports it."""

    text: str | None = None
    audio: str | None = None
    language: str | None = None
    """BCP 47 tag such as en-US (a template); the flow's language when empty."""
    voice: str | None = None
    """A voice of the TTS engine (a template); the flow's voice when empty."""
    say_as: SayAs | None = None
    """Read the rendered `text` as digits, a telephone number, a date, a time or an amount."""
    segments: list[PromptSegment] = Field(default_factory=list)
    rate: float | None = Field(default=None, ge=0.25, le=4.0)
    """TTS speaking rate, 1 = normal (Webex `speakingRate`); None: the voice's own."""
    gain_db: float | None = Field(default=None, ge=-96.0, le=16.0)
    """TTS volume change in dB, 0 = unchanged (Webex `volumeGainDb`)."""

    @model_validator(mode="after")
    def _text_or_audio(self) -> Prompt:
        if self.text is None and not self.audio and not self.segments:
            raise ValueError("a prompt needs `text`, `segments` or `audio`")
        if self.text and self.segments:
            raise ValueError("a prompt has `text` or `segments`, not both")
        return self

    @property
    def empty(self) -> bool:
        """Written empty (`text: ""`, no audio): nothing to play, whatever the variables."""
        return not self.text and not self.audio and not self.segments


class HttpOutput(_Strict):
    """Copy one value out of the JSON response into a variable."""

    variable: str
    path: str
    """JSONPath, `$.value[0].fullname` or Webex style `value[0].fullname`."""


class ActivityBase(_Strict):
    kind: str
    label: str | None = None
    description: str = ""
    on: dict[str, str] = Field(default_factory=dict)
    """Output name -> id of the activity that follows."""
    next: str | None = None
    """Shorthand for the activity's default output (see `default_output`)."""
    origin: str | None = None
    """Where the activity came from when imported (e.g. `webex:<activity uuid>`), for reports."""

    outputs: ClassVar[tuple[str, ...]] = ()
    """Every output this kind can take (digit outputs of menus are added per instance)."""
    required_outputs: ClassVar[tuple[str, ...]] = ()
    """Outputs that must be wired in a valid flow."""
    default_output: ClassVar[str | None] = "out"

    def wiring(self) -> dict[str, str]:
        """Outputs with `next` folded into the default output."""
        wired = dict(self.on)
        if self.next is not None and self.default_output is not None:
            wired.setdefault(self.default_output, self.next)
        return wired

    def all_outputs(self) -> tuple[str, ...]:
        return self.outputs

    @classmethod
    def instance_outputs(cls, raw: Any) -> tuple[str, ...]:
        """Outputs a raw (unvalidated) activity of this kind adds to `outputs` (menu keys,
        case branches): for the loader's checks, which run before validation."""
        return ()


class StartActivity(ActivityBase):
    """New phone contact: exposes NewPhoneContact.ANI, DNIS, InteractionId, StartTime."""

    kind: Literal["start"]
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    required_outputs: ClassVar[tuple[str, ...]] = ("out",)


class SetVariableActivity(ActivityBase):
    kind: Literal["set_variable"]
    variable: str
    value: Any
    """A template (string) or a literal value."""
    outputs: ClassVar[tuple[str, ...]] = ("out", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("out",)


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


class HttpRequestActivity(ActivityBase):
    kind: Literal["http_request"]
    connector: str | None = None
    """Connector name from configuration (auth, base URL); None for an absolute `url`."""
    method: HttpMethod = HttpMethod.GET
    path: str | None = None
    """Template, relative to the connector's base URL (may carry an OData query string)."""
    url: str | None = None
    """Template, absolute URL (no connector)."""
    query: dict[str, str] = Field(default_factory=dict)
    """Query parameters (values are templates), encoded by the HTTP client."""
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    """Template string or JSON-like value whose strings are templates."""
    content_type: str = "application/json"
    timeout_ms: int = Field(default=5000, gt=0, le=120_000)
    retries: int = Field(default=0, ge=0, le=10)
    parse: list[HttpOutput] = Field(default_factory=list)
    """JSONPath outputs into variables."""
    single_output: bool = False
    """Webex's HTTP Request has one output (imports set this): every outcome takes
    `success`, a response of any status and no response at all (then `httpStatusCode` is
    empty), and the flow checks `<id>.httpStatusCode`. False (dipflow's default): a
    response outside 2xx, no response and a timeout take `error`/`timeout`."""
    outputs: ClassVar[tuple[str, ...]] = ("success", "error", "timeout")
    required_outputs: ClassVar[tuple[str, ...]] = ("success",)
    default_output: ClassVar[str | None] = "success"

    @model_validator(mode="after")
    def _path_or_url(self) -> HttpRequestActivity:
        if (self.path is None) == (self.url is None):
            raise ValueError(
                "an http_request needs exactly one of `path` (with a connector) or `url`"
            )
        if self.path is not None and self.connector is None:
            raise ValueError("`path` is relative to a connector: name one with `connector`")
        return self


class HttpStartActivity(HttpRequestActivity):
    """An HTTP request started without waiting for it: the flow goes on at once (say,
    plays the welcome prompt) and an `http_join` naming this activity takes its
    `success` / `error` / `timeout` output later, with the same `parse`. The request's
    budget (`timeout_ms`) runs from the start, not from the join."""

    kind: Literal["http_start"]  # type: ignore[assignment]
    outputs: ClassVar[tuple[str, ...]] = ("out", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("out",)
    default_output: ClassVar[str | None] = "out"


class HttpJoinActivity(ActivityBase):
    """Waits for (or picks up) the answer to the request an `http_start` began."""

    kind: Literal["http_join"]
    request: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    """The id of the `http_start` activity whose request this joins."""
    outputs: ClassVar[tuple[str, ...]] = ("success", "error", "timeout")
    required_outputs: ClassVar[tuple[str, ...]] = ("success",)
    default_output: ClassVar[str | None] = "success"


class ConditionActivity(ActivityBase):
    kind: Literal["condition"]
    expression: str
    """Template or bare Jinja2 expression evaluating to a boolean."""
    outputs: ClassVar[tuple[str, ...]] = ("true", "false", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("true", "false")
    default_output: ClassVar[str | None] = None


class PlayMessageActivity(ActivityBase):
    kind: Literal["play_message"]
    prompt: Prompt
    interruptible: bool = False
    outputs: ClassVar[tuple[str, ...]] = ("out", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("out",)


DIGITS: tuple[str, ...] = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#")
MAX_CHOICE_KEYS = 4
"""A menu choice is 1 to 4 keys ("1", "12", "*9")."""


class MenuActivity(ActivityBase):
    """Play a prompt and branch on the keys pressed, re-prompting on no input or a wrong key.

    Choices are 1 to 4 keys. A choice is taken as soon as the keys pressed can be no
    other choice ("1" at once when no choice starts with "1" and is longer); otherwise
    the menu waits `inter_digit_timeout_s` for the next key and then takes what was
    pressed. `#` ends the entry early when no choice uses it.
    """

    kind: Literal["menu"]
    prompt: Prompt
    choices: dict[str, str] = Field(default_factory=dict)
    """Keys -> description ("1": "agent", "12": "billing"); each is also an output name."""
    entry_timeout_s: float = Field(default=5.0, gt=0, le=120)
    inter_digit_timeout_s: float = Field(default=3.0, gt=0, le=60)
    max_tries: int = Field(default=3, ge=1, le=10)
    no_input_prompt: Prompt | None = None
    invalid_prompt: Prompt | None = None
    interruptible: bool = True
    outputs: ClassVar[tuple[str, ...]] = ("no_input", "invalid", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ()
    default_output: ClassVar[str | None] = None

    def all_outputs(self) -> tuple[str, ...]:
        return (*self.choices, *self.outputs)

    @classmethod
    def instance_outputs(cls, raw: Any) -> tuple[str, ...]:
        choices = raw.get("choices") if isinstance(raw, Mapping) else None
        return tuple(str(k) for k in choices) if isinstance(choices, Mapping) else ()


Priority = Annotated[int, Field(ge=0, le=10)] | str
"""A contact priority, 0..10 with 10 served first, or a template rendering one (a value
that does not render to an integer 0..10 queues at 0, and the trace says so)."""


class SkillNeed(_Strict):
    """One skill requirement of a contact (Webex Queue Contact "Skill Requirements")."""

    skill: str
    """The skill's name (a template; the center's `skills` define them)."""
    condition: str = "=="
    """`==`, `!=`, `>`, `>=`, `<`, `<=` (Webex also writes `IS`, `IS_NOT`, `GTE`...);
    a template. Only proficiency skills take the ordered ones."""
    value: str | int | bool
    """A proficiency 0..10, true/false, or the text or enum value; a string is a template."""


class SkillRelaxation(_Strict):
    """After the contact has waited `after_s` in the center, its requirements become
    `skills` (none: any agent of the queue)."""

    after_s: float = Field(gt=0)
    skills: list[SkillNeed] = Field(default_factory=list)


class QueueContactActivity(ActivityBase):
    """Queue the contact: `out` once queued; `error` when it cannot be, or stay, queued.

    With `skills` the contact is offered only to agents who meet all of them, until a
    `relaxation` step (in increasing `after_s`) replaces them."""

    kind: Literal["queue_contact"]
    queue: str
    """Queue name, or a template giving one."""
    priority: Priority = 0
    fallback_queue: str | None = None
    max_wait_s: float | None = Field(default=None, gt=0)
    skills: list[SkillNeed] = Field(default_factory=list)
    relaxation: list[SkillRelaxation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _relaxation_in_order(self) -> QueueContactActivity:
        times = [step.after_s for step in self.relaxation]
        if times != sorted(set(times)):
            raise ValueError(f"relaxation steps need increasing after_s, not {times}")
        return self

    outputs: ClassVar[tuple[str, ...]] = ("out", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("out",)


class PlayMusicActivity(ActivityBase):
    """Music on hold: loops until an agent answers, or until `duration_s` (then `out`)."""

    kind: Literal["play_music"]
    audio: str = "hold"
    duration_s: float | None = Field(default=None, gt=0)
    outputs: ClassVar[tuple[str, ...]] = ("out", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ()


class DisconnectActivity(ActivityBase):
    kind: Literal["disconnect_contact"]
    reason: str = "normal"
    outputs: ClassVar[tuple[str, ...]] = ()
    default_output: ClassVar[str | None] = None


class ScreenPopTarget(StrEnum):
    NEW_TAB = "new_tab"
    EMBEDDED = "embedded"


class ScreenPopActivity(ActivityBase):
    kind: Literal["screen_pop"]
    url: str
    """Template."""
    query: dict[str, str] = Field(default_factory=dict)
    """Query parameters (values are templates), encoded when the URL is built."""
    label: str = "Screen pop"
    target: ScreenPopTarget = ScreenPopTarget.NEW_TAB
    outputs: ClassVar[tuple[str, ...]] = ("out", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ()


class EndActivity(ActivityBase):
    kind: Literal["end"]
    outputs: ClassVar[tuple[str, ...]] = ()
    default_output: ClassVar[str | None] = None


class CollectDigitsActivity(ActivityBase):
    """Play a prompt and collect a number (an account, a PIN) into `<id>.DigitsEntered`.

    Collection ends at `max_digits` keys, at the `terminator` (not part of the entry), or
    `inter_digit_timeout_s` after the last key. Nothing within `entry_timeout_s` after the
    prompt: `no_input`; fewer than `min_digits` or more than `max_digits`: `invalid`.
    The prompt plays once, as Webex's does (no re-prompt)."""

    kind: Literal["collect_digits"]
    prompt: Prompt
    min_digits: int = Field(default=1, ge=1, le=64)
    max_digits: int = Field(default=1, ge=1, le=64)
    terminator: Literal["#", "*"] | None = "#"
    entry_timeout_s: float = Field(default=5.0, gt=0, le=120)
    inter_digit_timeout_s: float = Field(default=3.0, gt=0, le=60)
    interruptible: bool = True
    outputs: ClassVar[tuple[str, ...]] = ("out", "no_input", "invalid", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("out",)

    @model_validator(mode="after")
    def _range(self) -> CollectDigitsActivity:
        if self.min_digits > self.max_digits:
            raise ValueError("`min_digits` is larger than `max_digits`")
        return self


class CaseActivity(ActivityBase):
    """Branch on a value: `expression` is rendered, then compared with each case's value
    (rendered too) as text, in order; the first equal case's output is taken, else
    `default`. Case outputs are named by their keys (Flow Designer's link ids)."""

    kind: Literal["case"]
    expression: str
    """Template (`{{ TotalCalls }}`) or plain text (`true`)."""
    cases: dict[str, str] = Field(min_length=1)
    """Output name -> value (a template); compared in this order."""
    outputs: ClassVar[tuple[str, ...]] = ("default", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("default",)
    default_output: ClassVar[str | None] = "default"

    def all_outputs(self) -> tuple[str, ...]:
        return (*self.cases, *self.outputs)

    @classmethod
    def instance_outputs(cls, raw: Any) -> tuple[str, ...]:
        cases = raw.get("cases") if isinstance(raw, Mapping) else None
        return tuple(str(k) for k in cases) if isinstance(cases, Mapping) else ()


class LoopActivity(ActivityBase):
    """A counter, as Amazon Connect's Loop block: the first `times` arrivals take `looping`,
    the next takes `complete` and starts the count again. `<id>.count` is the number of
    arrivals so far (1 on the first), for prompts ("attempt {{ Retry.count }}")."""

    kind: Literal["loop"]
    times: int = Field(ge=1, le=100)
    outputs: ClassVar[tuple[str, ...]] = ("looping", "complete")
    required_outputs: ClassVar[tuple[str, ...]] = ("looping", "complete")
    default_output: ClassVar[str | None] = None


class SplitActivity(ActivityBase):
    """A/B routing: each call takes one of the outputs with the percentages given, chosen
    by a hash of the call id and this activity's id (no randomness: a call replays the
    same way, and one caller's call always takes the same branch here)."""

    kind: Literal["split"]
    percentages: dict[str, int] = Field(min_length=1)
    """Output name -> percent of calls (whole numbers adding up to 100)."""
    outputs: ClassVar[tuple[str, ...]] = ()
    default_output: ClassVar[str | None] = None

    @model_validator(mode="after")
    def _hundred(self) -> SplitActivity:
        if any(p < 0 for p in self.percentages.values()):
            raise ValueError("a percentage is not negative")
        total = sum(self.percentages.values())
        if total != 100:
            raise ValueError(f"the percentages add up to {total}, not 100")
        return self

    def all_outputs(self) -> tuple[str, ...]:
        return tuple(self.percentages)

    @classmethod
    def instance_outputs(cls, raw: Any) -> tuple[str, ...]:
        split = raw.get("percentages") if isinstance(raw, Mapping) else None
        return tuple(str(k) for k in split) if isinstance(split, Mapping) else ()


class ParseFormat(StrEnum):
    JSON = "json"
    XML = "xml"


class ParseActivity(ActivityBase):
    """Copy values out of a JSON or XML document held in a variable or an activity output.

    `input` is a template or a bare name (`userRecord`, `VirtualAgent.MetaData`); a JSON
    document may be text or already structured. Paths are JSONPath for JSON (Webex style
    accepted, as for HTTP outputs) and XPath 1.0 for XML. A path that selects nothing
    gives the variable's empty value; a document that does not parse takes `error`."""

    kind: Literal["parse"]
    input: str
    content_type: ParseFormat = ParseFormat.JSON
    parse: list[HttpOutput] = Field(min_length=1)
    single_output: bool = False
    """Webex's Parse has one output (imports set this): a document that is missing or does
    not parse takes `out` too, every variable getting its empty value."""
    outputs: ClassVar[tuple[str, ...]] = ("out", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("out",)


class AgentLookup(StrEnum):
    ID = "id"
    EMAIL = "email"
    NAME = "name"


class QueueToAgentActivity(ActivityBase):
    """Route the contact to one named agent (Webex Queue To Agent).

    The contact is reported in `reporting_queue`; when the agent cannot take it (logged
    out, unknown) the contact goes to `recovery_queue`, or takes `error` without one.
    With `park`, a busy agent is waited for; without, busy counts as unavailable."""

    kind: Literal["queue_to_agent"]
    agent: str
    """Template giving the agent's id, email or name (see `lookup`)."""
    lookup: AgentLookup = AgentLookup.ID
    reporting_queue: str
    recovery_queue: str | None = None
    priority: Priority = 0
    park: bool = False
    outputs: ClassVar[tuple[str, ...]] = ("out", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("out",)


class QueueLookupActivity(ActivityBase):
    """Queue statistics into `<id>.PIQ`, `.EWT` (ms, -1 unknown), `.CallsQueuedNow`,
    `.LoggedOnAgentsAll`/`Current`, `.AvailableAgentsAll`/`Current`, `.OldestCallTime` (ms
    waited) (Webex Get Queue Info); on failure `.FailureCode`, `.FailureDescription`.
    `insufficient_data` when the wait cannot be estimated."""

    kind: Literal["queue_lookup"]
    queue: str
    """Queue name or id (see the flow's `queues`), or a template."""
    lookback_minutes: int = Field(default=5, ge=5, le=240)
    outputs: ClassVar[tuple[str, ...]] = ("out", "insufficient_data", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("out",)


class VirtualAgentActivity(ActivityBase):
    """Hand the caller to a virtual agent (a bot) until it ends or escalates.

    `connector` names a virtual-agent connector of the deployment; with none (or one the
    deployment does not have) the activity takes `error` at once and says why in the trace.
    Outputs: `handled` (the bot ended the conversation, Webex `ENDED`), `escalated` (the
    caller asked for a person, Webex `ESCALATE`), `error`. The bot's data lands in
    `<id>.MetaData` (a map) and `<id>.StateEventName`."""

    kind: Literal["virtual_agent"]
    connector: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    """Sent to the bot at the start (Webex `botParameters` / `eventData`); strings are
    templates."""
    event_name: str | None = None
    language: str | None = None
    outputs: ClassVar[tuple[str, ...]] = ("handled", "escalated", "error")
    default_output: ClassVar[str | None] = None


class CallbackActivity(ActivityBase):
    """Courtesy callback: the caller keeps their place in the queue and may hang up; the
    contact center calls `number` back when an agent is free.

    The contact must be queued (by this flow, or to `queue` here). After it the flow
    should end or disconnect: the caller's leg ends, the contact stays in its queue. A
    callback that cannot be placed raises the `callback_failed` event."""

    kind: Literal["callback"]
    number: str
    """Template: the number to call back (`{{ NewPhoneContact.ANI }}`)."""
    caller_id: str | None = None
    """Template: the number the customer sees (Webex `callbackAni`)."""
    queue: str | None = None
    """Queue to wait in; None: the queue the contact is in."""
    outputs: ClassVar[tuple[str, ...]] = ("out", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("out",)


WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Shift(_Strict):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    start: time
    end: time
    """Exclusive; `24:00` is written `23:59:59`. A shift ending before it starts runs past
    midnight into the next day."""


class Holiday(_Strict):
    name: str = ""
    start: date
    end: date | None = None
    """Inclusive; None: the `start` day only."""


class Override(_Strict):
    """A stretch of time that is not a normal day (a storm, an event): `override`."""

    name: str = ""
    start: str
    """ISO 8601 local date-time in the schedule's time zone (`2026-02-01T08:00`)."""
    end: str


class Schedule(_Strict):
    timezone: str = "UTC"
    """IANA name (`America/New_York`)."""
    working_hours: list[Shift] = Field(default_factory=list)
    holidays: list[Holiday] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)


class BusinessHoursActivity(ActivityBase):
    """Branch on the call's time (`now()`) against a schedule: `override` first, then
    `holidays`, then `working_hours`; none matching: `default` (closed).

    The schedule is written here (`schedule`), or named (`schedule_id`: a key of the
    flow's `schedules`, which the flow or the deployment's configuration maps to a
    schedule, as Webex keeps schedules in Control Hub). A named schedule nobody mapped
    takes `error`, with the reason in the trace."""

    kind: Literal["business_hours"]
    schedule: Schedule | None = None
    schedule_id: str | None = None
    outputs: ClassVar[tuple[str, ...]] = (
        "working_hours",
        "holidays",
        "override",
        "default",
        "error",
    )
    required_outputs: ClassVar[tuple[str, ...]] = ("working_hours", "default")
    default_output: ClassVar[str | None] = None

    @model_validator(mode="after")
    def _one_schedule(self) -> BusinessHoursActivity:
        if (self.schedule is None) == (self.schedule_id is None):
            raise ValueError("a business_hours activity takes `schedule` or `schedule_id`")
        return self


class BlindTransferActivity(ActivityBase):
    """Transfer the caller to a number or SIP address and leave the call (the flow ends
    when the transfer is done). A transfer that fails takes `error`."""

    kind: Literal["blind_transfer"]
    destination: str
    """Template: E.164 number or `sip:` URI."""
    outputs: ClassVar[tuple[str, ...]] = ("error",)
    default_output: ClassVar[str | None] = None


class SetCallerIdActivity(ActivityBase):
    """The number shown on calls this contact places (transfers, callbacks):
    `<id>.CallerID`, used when a transfer or callback has no caller id of its own."""

    kind: Literal["set_caller_id"]
    caller_id: str
    """Template: an E.164 number; empty changes nothing (as a bare Webex node)."""
    name: str | None = None
    """Template: the display name, when the trunk carries one."""
    outputs: ClassVar[tuple[str, ...]] = ("out", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("out",)


class FeedbackActivity(ActivityBase):
    """Offer a post-call survey: when the agent hangs up, the caller is kept on the line
    and the flow's `post_call_survey` event flow runs (its menus and collect-digits are
    the questions; an HTTP request stores the answers). Without that event flow the call
    ends as usual and the trace says the survey had nothing to run."""

    kind: Literal["feedback"]
    survey: str = "post_call_survey"
    """A name for reports (Webex: the survey chosen in Control Hub)."""
    outputs: ClassVar[tuple[str, ...]] = ("out", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("out",)


class StartMediaStreamActivity(ActivityBase):
    """Fork the caller's audio to a WebSocket endpoint (Webex Start Media Stream, for an AI
    service) for the rest of the call, and go on at once.

    `destination` (a template) names a media stream of the deployment (`media_streams:`)
    or is a `ws://`/`wss://` URL. It renders empty: `error`. A stream that cannot start
    (no such destination, a channel without audio, an endpoint that does not answer) is
    logged by the runtime; the call goes on, as in Webex."""

    kind: Literal["start_media_stream"]
    destination: str
    outputs: ClassVar[tuple[str, ...]] = ("out", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("out",)


class SubflowActivity(ActivityBase):
    """Run another flow's main graph (a subflow) and come back (Webex Subflow).

    `flow` names a flow of the deployment's flow library (a name or a Webex subflow id
    the library maps). `inputs` set the subflow's variables before it runs (variable ->
    template); `returns` copy them back after (this flow's variable -> the subflow's).
    The subflow's variables join the call's (a name both flows declare is refused when
    the flow is loaded). Its end (`end`, or an unwired ordinary output) returns here
    through `out`; a failure inside it that it does not handle takes `error`."""

    kind: Literal["subflow"]
    flow: str
    inputs: dict[str, str] = Field(default_factory=dict)
    returns: dict[str, str] = Field(default_factory=dict)
    outputs: ClassVar[tuple[str, ...]] = ("out", "error")
    required_outputs: ClassVar[tuple[str, ...]] = ("out",)


class GoToActivity(ActivityBase):
    """Continue the call in another flow, from its start (Webex GoTo).

    `flow` (a template) names a flow of the deployment (bound to a number or in its
    flow library). The target starts as for a new contact of the same caller (its own
    variables and event flows); a queued contact leaves its queue first. A flow that
    does not exist takes `error` at once."""

    kind: Literal["goto"]
    flow: str
    outputs: ClassVar[tuple[str, ...]] = ("error",)
    default_output: ClassVar[str | None] = None


class UnsupportedActivity(ActivityBase):
    """An imported activity dipflow cannot run (`--allow-partial`): it keeps every output
    of the activity it stands for (`original_outputs`, so a stubbed menu keeps its digit
    branches and the flow's shape survives), and always takes its `error` output, or its
    first output when it has no `error`."""

    kind: Literal["unsupported"]
    original_kind: str
    original_outputs: list[str] = Field(default_factory=list)
    properties: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""
    """Why it could not be imported."""
    outputs: ClassVar[tuple[str, ...]] = ("error",)
    default_output: ClassVar[str | None] = "error"

    def all_outputs(self) -> tuple[str, ...]:
        return (*[o for o in self.original_outputs if o != "error"], "error")

    @classmethod
    def instance_outputs(cls, raw: Any) -> tuple[str, ...]:
        listed = raw.get("original_outputs") if isinstance(raw, Mapping) else None
        return tuple(str(o) for o in listed) if isinstance(listed, list) else ()

    def taken_output(self) -> str:
        """`error` when wired, else the first wired output (the stub always fails)."""
        wired = self.wiring()
        if "error" in wired:
            return "error"
        return next((o for o in self.original_outputs if o in wired), "error")


Activity = Annotated[
    StartActivity
    | SetVariableActivity
    | HttpRequestActivity
    | HttpStartActivity
    | HttpJoinActivity
    | ConditionActivity
    | PlayMessageActivity
    | MenuActivity
    | QueueContactActivity
    | PlayMusicActivity
    | DisconnectActivity
    | ScreenPopActivity
    | EndActivity
    | CollectDigitsActivity
    | CaseActivity
    | LoopActivity
    | SplitActivity
    | ParseActivity
    | QueueToAgentActivity
    | QueueLookupActivity
    | VirtualAgentActivity
    | CallbackActivity
    | BusinessHoursActivity
    | BlindTransferActivity
    | SetCallerIdActivity
    | FeedbackActivity
    | SubflowActivity
    | GoToActivity
    | StartMediaStreamActivity
    | UnsupportedActivity,
    Field(discriminator="kind"),
]

ACTIVITY_KINDS: tuple[str, ...] = (
    "start",
    "set_variable",
    "http_request",
    "http_start",
    "http_join",
    "condition",
    "play_message",
    "menu",
    "queue_contact",
    "play_music",
    "disconnect_contact",
    "screen_pop",
    "end",
    "collect_digits",
    "case",
    "loop",
    "split",
    "parse",
    "queue_to_agent",
    "queue_lookup",
    "virtual_agent",
    "callback",
    "business_hours",
    "blind_transfer",
    "set_caller_id",
    "feedback",
    "subflow",
    "goto",
    "start_media_stream",
    "unsupported",
)


class EventName(StrEnum):
    AGENT_OFFERED = "agent_offered"
    AGENT_ANSWERED = "agent_answered"
    AGENT_DISCONNECTED = "agent_disconnected"
    CONTACT_ENDED = "contact_ended"
    GLOBAL_ERROR = "global_error"
    CALLBACK_FAILED = "callback_failed"
    """A courtesy callback could not be placed (Webex `ContactCallbackFailed`)."""
    POST_CALL_SURVEY = "post_call_survey"
    """The agent hung up on a contact a `feedback` activity offered a survey to."""
    PREDIAL = "predial"
    """Webex outbound campaign `ContactPredial`: kept from imports, never raised here."""
    OUTBOUND_CAMPAIGN_RESULT = "outbound_campaign_result"
    """Webex `ContactOutboundCampaignResult`: kept from imports, never raised here."""
    ANI_UPDATED = "ani_updated"
    """The caller's number changed (Webex `ContactAniUpdated`): `NewPhoneContact.ANI` is
    the new one."""
    RESERVATION_STARTED = "reservation_started"
    """Webex `ContactReservationStarted` (queue reservation): kept, never raised here."""


NEVER_RAISED: frozenset[EventName] = frozenset(
    {EventName.PREDIAL, EventName.OUTBOUND_CAMPAIGN_RESULT, EventName.RESERVATION_STARTED}
)
"""Events dipflow has no source for (outbound campaigns, queue reservations): their flows
are kept, never run."""


class EventFlow(_Strict):
    """A graph run when an event arrives; `start` is the first activity."""

    start: str
    activities: dict[str, Activity]
    note: str = ""
    """Free text (the importer says here why an event flow will not run)."""


class FlowSettings(_Strict):
    language: str = "en-US"
    """The language of every prompt that names none (BCP 47; a template, rendered at each
    prompt, so `{{ Language }}` set by a menu switches the rest of the call, as Webex's
    `Global_Language` does)."""
    voice: str | None = None
    """The voice of every prompt that names none (a template, like `language`)."""
    fallback_queue: str | None = None
    """Where the default global error handler queues a caller; None: apologise and hang up."""
    apology_prompt: str = (
        "We are sorry, we cannot take your call right now. Please call again later. Goodbye."
    )
    max_steps_per_event: int = Field(default=1000, ge=10)
    """Guard against loops that never wait for the caller (a flow bug), which would spin."""


class Flow(_Strict):
    """A whole flow file."""

    format: Literal[1] = 1
    name: str
    description: str = ""
    settings: FlowSettings = Field(default_factory=FlowSettings)
    variables: list[Variable] = Field(default_factory=list)
    start: str
    """Id of the main flow's first activity (a `start` activity)."""
    activities: dict[str, Activity]
    event_flows: dict[EventName, EventFlow] = Field(default_factory=dict)
    queues: dict[str, str | None] = Field(default_factory=dict)
    """Queues the flow names by id (a Webex export does): id -> dipflow queue name, null
    until mapped (`--queue ID=NAME` at import, or `queues:` of the flow binding in the
    configuration). An activity's queue that is a key here is routed to its mapped name;
    an unmapped one is used as it is, and the linter reports it."""
    kept_event_flows: dict[str, EventFlow] = Field(default_factory=dict)
    """Event flows of events dipflow does not know (by the Webex event name): kept as
    imported, with a note, never run; the export writes them back."""
    schedules: dict[str, Schedule | None] = Field(default_factory=dict)
    """Schedules business_hours activities name by `schedule_id` (a Webex export's
    `businessHoursId`): id -> schedule, null until mapped here or in the configuration
    (`schedules:`, by id); the linter reports unmapped ones."""

    def variable(self, name: str) -> Variable | None:
        for variable in self.variables:
            if variable.name == name:
                return variable
        return None
