"""`dipflow.yaml`: the one configuration file of a dipflow deployment.

`load_config(path)` reads it, applies `${ENV}` references and `DIPFLOW_*`
overrides (see `dipflow.runtime.envoverride`), validates it, and reports every
problem as `file:line:col: field: what is wrong` in one `dipflow.errors.ConfigError`
(re-exported here). `docs/configuration.md` is the reference; `examples/dipflow.yaml` a
commented example. Layer 5 (runtime).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from dipflow.errors import ConfigError as ConfigError
from dipflow.flow.model import Schedule
from dipflow.runtime._foreign import BotSettings, CenterConfig, ConnectorConfig, SipSettings
from dipflow.runtime.envoverride import EnvError, apply_overrides, substitute_references
from dipflow.runtime.passwords import is_password_hash
from dipflow.runtime.websecurity import (
    ConnectionLimits,
    LoginThrottleSettings,
    SessionSettings,
    valid_network,
)
from dipflow.runtime.yamlloc import LocatedYaml, Location, YamlSourceError, load_located_file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def web_origin(url: str) -> str:
    """`scheme://host[:port]` of an http(s) URL, lower-cased, default port dropped;
    ValueError when `url` is not an absolute http(s) URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r} has an invalid port") from exc
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    host = parts.hostname  # lower-cased, without user info
    if ":" in host:
        host = f"[{host}]"
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


class FlowBinding(_Strict):
    """Which flow answers which dialled numbers."""

    dnis: list[str] | Literal["*"]
    """Dialled numbers (as the channel reports them) served by this flow; `"*"` for all others."""
    flow: str
    """A bundled flow name (`ms-dynamics-data-dip`) or a path to a flow file
    (relative paths are relative to the configuration file)."""
    variables: dict[str, Any] = Field(default_factory=dict)
    """Overrides of the flow's variable defaults for this organisation (org URL, queue name...)."""
    queues: dict[str, str] = Field(default_factory=dict)
    """Queue ids the flow names (an imported Webex flow's `queues`) -> this deployment's
    queue names; they take precedence over the flow's own mapping."""
    screen_pop_origins: list[str] | None = None
    """Origins (`https://contoso.crm4.dynamics.com`) this flow's screen pops may open. When
    unset: the web client origin of every configured connector (see `web_client_url`). A pop
    to any other origin is shown to the agent as text, never opened."""

    @field_validator("screen_pop_origins")
    @classmethod
    def _origins(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else [web_origin(v) for v in values]


class DesktopUser(_Strict):
    """A login to the agent desktop or the supervisor view."""

    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password_hash: str
    """`scrypt$n$r$p$salt$hash` (make one with `dipflow.runtime.passwords.hash_password`)."""
    role: Literal["agent", "supervisor"] = "agent"
    agent_id: str | None = None
    """The contact-center agent this login drives (required for role `agent`)."""
    display_name: str | None = None

    @field_validator("password_hash")
    @classmethod
    def _is_hash(cls, value: str) -> str:
        if not is_password_hash(value):
            raise ValueError(
                "not a password hash: expected `scrypt$n$r$p$salt$hash` (never a clear password)"
            )
        return value


class PhoneCaller(_Strict):
    """A number the browser phone offers to call from, with the name it shows."""

    ani: str = Field(min_length=1, max_length=32)
    """As the page sends it: digits with an optional leading `+` (spaces and dashes allowed)."""
    name: str = Field(min_length=1, max_length=100)
    """Shown on the picker's button (text, escaped like all CRM data)."""


class WebSettings(_Strict):
    host: str = "127.0.0.1"
    """Interface the web app listens on."""
    port: int = Field(default=8080, ge=0, le=65535)
    """0 picks a free port."""
    session_secret: SecretStr | None = None
    """Signs desktop session cookies; set it with `DIPFLOW_WEB__SESSION_SECRET`. When empty a
    random secret is made at start (sessions then do not survive a restart)."""
    public_url: str | None = None
    """The URL agents and callers use (behind a proxy); `http://host:port` when empty."""
    phone_public: bool = False
    """Let anyone who reaches the web port use the browser phone (`/phone`), as the demo does.
    Off by default: the phone speaks a customer's name and latest case to whoever types
    their number, so it then needs a desktop login."""
    phone_callers: list[PhoneCaller] = Field(default_factory=list)
    """Numbers the browser phone offers in its picker (the demo lists its CRM's callers);
    any other number can still be typed."""
    phone_calls_per_source: int = Field(default=4, ge=1)
    """Browser calls one client address may hold at once (50 in total per node)."""
    presence_grace_s: float = Field(default=60.0, ge=0)
    """An agent whose last desktop socket closed and has not come back for this long is
    moved from Available to Idle (reason `offline`), so that calls stop ringing them."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Addresses or networks (`10.0.0.5`, `10.0.0.0/24`) of reverse proxies in front of
    dipflow. Only their `X-Forwarded-For`/`X-Forwarded-Proto` are believed; from any other
    peer (loopback included) the connection's own address is the client."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host names browsers may use to reach dipflow (`*.example.com` for a domain), beside
    IP literals, `localhost`, this machine's name and `public_url`'s host, which are always
    allowed. A request naming another host gets 400 (no DNS rebinding)."""
    login: LoginThrottleSettings = Field(default_factory=LoginThrottleSettings)
    limits: ConnectionLimits = Field(default_factory=ConnectionLimits)
    sessions: SessionSettings = Field(default_factory=SessionSettings)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        return [valid_network(v) for v in values]


class RedisStoreSettings(_Strict):
    kind: Literal["redis"] = "redis"
    url: str = "redis://127.0.0.1:6379/0"
    prefix: str = "dipflow:"
    """Key prefix, so that several deployments can share one Redis."""
    check_interval_s: float = Field(default=1.0, gt=0, le=60)
    """How often each node checks that Redis still holds the center (and re-asserts its
    callers and agents when it came back empty)."""
    outage_wait_s: float = Field(default=120.0, ge=0)
    """During an outage, a caller who cannot be queued waits with music this long for
    Redis to come back; then the flow's queue failure runs (its apology)."""


class MediaSettings(_Strict):
    tts: Literal["espeak", "silent"] = "espeak"
    """`espeak`: espeak-ng; `silent`: no synthesis (tests, text-only channels)."""
    cache_dir: Path | None = None
    """Rendered prompts are cached here by content hash; in memory only when empty."""
    audio_dirs: list[Path] = Field(default_factory=list)
    """Where `audio:` prompt names (and `hold` music) are looked up, before the bundled audio."""
    render_workers: int = Field(default=1, ge=0, le=64)
    """Processes that render new prompts (synthesis, resampling, encoding), apart from the
    server's GIL so that a prompt rendered for the first time never delays signalling or
    RTP; 0 renders in a thread of the server. `silent` TTS always renders in a thread
    (its audio is zeros: a process would cost more than it saves)."""


class DipflowConfig(_Strict):
    """The whole configuration file."""

    flows: list[FlowBinding] = Field(min_length=1)
    connectors: list[ConnectorConfig] = Field(default_factory=list)
    schedules: dict[str, Schedule] = Field(default_factory=dict)
    """Business-hours schedules by the id flows name them with (an imported Webex flow's
    Control Hub `businessHoursId`): `{id: {timezone, working_hours, holidays,
    overrides}}`. They take precedence over a flow's own `schedules`."""
    media_streams: dict[str, Annotated[str, Field(pattern=r"^wss?://")]] = Field(
        default_factory=dict
    )
    """Where start_media_stream sends the caller's audio, by the name flows use (an
    imported Webex flow's `mediaDestinationId`, e.g. "Cisco AI Assistant"): a WebSocket
    URL (`ws://` or `wss://`). A flow may also give a URL itself."""
    flow_library: dict[str, str] = Field(default_factory=dict)
    """Flows reached by name only: subflows and GoTo targets (`name: path or bundled
    name`). A Webex subflow id may be a name too. Bound flows are reachable by their
    own `name` as well."""
    virtual_agents: list[BotSettings] = Field(default_factory=list)
    """Bots a flow's Virtual Agent activity may name (`kind: webhook` or `rules`)."""
    center: CenterConfig
    users: list[DesktopUser] = Field(default_factory=list)
    web: WebSettings = Field(default_factory=WebSettings)
    sip: SipSettings | None = None
    """None: no SIP listener."""
    store: Literal["memory"] | RedisStoreSettings = "memory"
    media: MediaSettings = Field(default_factory=MediaSettings)
    base_dir: Path = Field(default=Path("."), exclude=True)
    """Directory of the configuration file (relative flow paths resolve against it)."""

    @model_validator(mode="after")
    def _trunk_dids_have_flows(self) -> DipflowConfig:
        """A trunk's DID no flow serves would answer every call to it 404: say so now."""
        for trunk in self.sip.trunks if self.sip is not None else ():
            for did in trunk.dids:
                try:
                    self.binding_for(did)
                except LookupError:
                    raise ValueError(
                        f"sip.trunks ({trunk.name}): DID {did!r} is served by no flow "
                        "(list it, written the same way, in a flows[].dnis)"
                    ) from None
        return self

    def binding_for(self, dnis: str) -> FlowBinding:
        """The binding serving `dnis`; `LookupError` when none does."""
        for binding in self.flows:
            if binding.dnis != "*" and dnis in binding.dnis:
                return binding
        for binding in self.flows:
            if binding.dnis == "*":
                return binding
        raise LookupError(f"no flow is configured for DNIS {dnis!r}")


def invalid(problems: list[str]) -> ConfigError:
    """The package's `ConfigError` for these problems (each `file:line:col: where: what`)."""
    message = "invalid configuration:\n" + "\n".join(f"  {p}" for p in problems)
    return ConfigError(message, problems=problems)


def _format_loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top)"


def _clean_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # pydantic inserts union member names ("RedisStoreSettings", "literal['memory']")
    # into locations; they are not keys of the file.
    return tuple(p for p in loc if isinstance(p, int) or not (p[:1].isupper() or "[" in p))


def config_from_data(
    data: Any,
    *,
    source: LocatedYaml | None = None,
    environ: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> DipflowConfig:
    """Validate already-parsed data (env applied when `environ` is given)."""

    applied: dict[tuple[int | str, ...], str] = {}

    def where(loc: tuple[int | str, ...], *, key: bool = False) -> str:
        location = source.locate(loc, key=key) if source is not None else None
        prefix = f"{location}: " if isinstance(location, Location) else ""
        origin = next(
            (f" (set by {key})" for at, key in applied.items() if loc[: len(at)] == at), ""
        )
        return f"{prefix}{_format_loc(loc)}{origin}"

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise invalid([f"{where(())}: the configuration must be a mapping"])
    if environ is not None:
        try:
            data = apply_overrides(
                substitute_references(data, environ),
                environ,
                sections=frozenset(DipflowConfig.model_fields) - {"base_dir"},
                applied=applied,
            )
        except EnvError as exc:
            raise invalid([f"{where(exc.loc)}: {exc.message}"]) from exc
    if base_dir is not None:
        data = {**data, "base_dir": base_dir}
    try:
        return DipflowConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = _clean_loc(tuple(error["loc"]))
            problems.append(f"{where(loc, key=error['type'] == 'extra_forbidden')}: {error['msg']}")
        raise invalid(problems) from exc


def load_config(path: Path, *, environ: Mapping[str, str] = os.environ) -> DipflowConfig:
    """Read and validate `path`; `ConfigError` with located problems when it is wrong."""
    try:
        source = load_located_file(path)
    except YamlSourceError as exc:
        raise invalid([str(exc)]) from exc
    duplicates = source.duplicate_key_problems()
    if duplicates:
        raise invalid(duplicates)
    return config_from_data(
        source.data, source=source, environ=environ, base_dir=path.resolve().parent
    )
