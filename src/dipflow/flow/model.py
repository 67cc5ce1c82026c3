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

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class Prompt(_Strict):
    """Something to say: TTS text (a template) or an audio file, with language and voice."""

    text: str | None = None
    audio: str | None = None
    language: str | None = None
    """BCP 47 tag such as en-US; the flow's default language when empty."""
    voice: str | None = None

    @model_validator(mode="after")
    def _text_or_audio(self) -> Prompt:
        if not self.text and not self.audio:
            raise ValueError("a prompt needs `text` or `audio`")
        return self


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


class QueueContactActivity(ActivityBase):
    """Queue the contact: `out` once queued; `error` when it cannot be, or stay, queued."""

    kind: Literal["queue_contact"]
    queue: str
    """Queue name, or a template giving one."""
    priority: int = Field(default=0, ge=0, le=10)
    fallback_queue: str | None = None
    max_wait_s: float | None = Field(default=None, gt=0)
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


class UnsupportedActivity(ActivityBase):
    """An imported activity dipflow cannot run; it always takes its `error` output."""

    kind: Literal["unsupported"]
    original_kind: str
    properties: dict[str, Any] = Field(default_factory=dict)
    outputs: ClassVar[tuple[str, ...]] = ("error",)
    default_output: ClassVar[str | None] = "error"


Activity = Annotated[
    StartActivity
    | SetVariableActivity
    | HttpRequestActivity
    | ConditionActivity
    | PlayMessageActivity
    | MenuActivity
    | QueueContactActivity
    | PlayMusicActivity
    | DisconnectActivity
    | ScreenPopActivity
    | EndActivity
    | UnsupportedActivity,
    Field(discriminator="kind"),
]

ACTIVITY_KINDS: tuple[str, ...] = (
    "start",
    "set_variable",
    "http_request",
    "condition",
    "play_message",
    "menu",
    "queue_contact",
    "play_music",
    "disconnect_contact",
    "screen_pop",
    "end",
    "unsupported",
)


class EventName(StrEnum):
    AGENT_OFFERED = "agent_offered"
    AGENT_ANSWERED = "agent_answered"
    AGENT_DISCONNECTED = "agent_disconnected"
    CONTACT_ENDED = "contact_ended"
    GLOBAL_ERROR = "global_error"


class EventFlow(_Strict):
    """A graph run when an event arrives; `start` is the first activity."""

    start: str
    activities: dict[str, Activity]


class FlowSettings(_Strict):
    language: str = "en-US"
    voice: str | None = None
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

    def variable(self, name: str) -> Variable | None:
        for variable in self.variables:
            if variable.name == name:
                return variable
        return None
