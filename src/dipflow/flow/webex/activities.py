"""One converter per Webex activity kind. Layer 1 (flow).

Flow Designer properties -> native activity fields.

Property names are those of Flow Designer's export (see ../shared/webex/README.md).
Properties that only describe the canvas or the editor (`_renderRequestTimestamp`,
`*:name`, `*_type`...) are ignored, as the importer must not depend on what it
does not understand. Properties that would change behaviour and that dipflow
cannot honour are returned as `unsupported` so the import can report them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dipflow.flow.webex.skills import SkillsShapeError, import_priority_variable, import_skills

# Flow Designer's default music file maps to dipflow's bundled hold music.
WEBEX_DEFAULT_MUSIC = "defaultmusic_on_hold.wav"

# Webex TTS voice names look like "en-US-Standard-C": the language is the first two parts.
_VOICE_LANGUAGE = re.compile(r"^([a-z]{2,3}-[A-Z]{2})\b")


@dataclass(slots=True)
class Converted:
    """A native activity as a plain mapping, plus what could not be carried over."""

    fields: dict[str, Any]
    unsupported: list[str] = field(default_factory=list)
    queue_ids: list[str] = field(default_factory=list)
    """Queues named only by an id (or not at all): they go to the flow's `queues` map."""
    schedule_ids: list[str] = field(default_factory=list)
    """Business-hours schedules (Control Hub ids): they go to the flow's `schedules` map."""
    notes: list[str] = field(default_factory=list)
    """Decisions the import took for this activity, for the user."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportOptions:
    connector_map: Mapping[str, str] = field(default_factory=dict)
    """Webex connector name -> dipflow connector name (unmapped names are kept)."""
    queue_map: Mapping[str, str] = field(default_factory=dict)
    """Webex queue name or id -> dipflow queue name (unmapped names are kept; unmapped
    ids are kept and listed, unmapped, in the flow's `queues`)."""


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def _number(value: Any) -> float | None:
    """A Flow Designer number (number or text); None for blank."""
    if not _present(value):
        return None
    return float(str(value).strip())


# Flow Designer TTS settings -> native prompt fields, with the value that changes nothing.
_TTS_SETTINGS = (("speakingRate", "rate", 1.0), ("volumeGainDb", "gain_db", 0.0))


def _prompt(props: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Flow Designer prompts: `promptsTts` (TTS segments) and `prompts` (audio files).

    Neither (an activity left unconfigured) gives an empty prompt, `text: ""`."""
    unsupported: list[str] = []
    texts: list[str] = []
    for segment in props.get("promptsTts") or []:
        if isinstance(segment, Mapping) and isinstance(segment.get("value"), str):
            texts.append(segment["value"].strip())
    audio_files = [
        p.get("value") or p.get("name") if isinstance(p, Mapping) else p
        for p in props.get("prompts") or []
    ]
    prompt: dict[str, Any] = {}
    if texts:
        prompt["text"] = " ".join(t for t in texts if t)
    if audio_files:
        if len(audio_files) > 1 or texts:
            unsupported.append("prompts (several audio segments, or audio mixed with TTS)")
        prompt["audio"] = str(audio_files[0])
    voice = props.get("voiceLanguage_name") or props.get("voiceLanguage:name")
    if isinstance(voice, str) and (match := _VOICE_LANGUAGE.match(voice)):
        # The Cisco cloud voice itself has no local equivalent: keep its language.
        prompt["language"] = match.group(1)
    for prop, native, neutral in _TTS_SETTINGS:
        value = _number(props.get(prop))
        if value is not None and value != neutral:
            prompt[native] = value
    if not texts and not audio_files:
        prompt["text"] = ""
    return prompt, unsupported


def _start(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    return Converted({"kind": "start"})


def _set_variable(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    return Converted(
        {"kind": "set_variable", "variable": props.get("srcVariable"), "value": props.get("expr")}
    )


def _play_message(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    prompt, unsupported = _prompt(props)
    fields: dict[str, Any] = {"kind": "play_message", "prompt": prompt}
    if props.get("interruptible") is True:
        fields["interruptible"] = True
    return Converted(fields, unsupported)


def _menu(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    prompt, unsupported = _prompt(props)
    digits = [str(d) for d in props.get("menuLinks") or []]
    labels = props.get("menuLinks_input") or props.get("menuLinks:input") or []
    choices = {
        digit: str(labels[i]) if i < len(labels) and labels[i] is not None else digit
        for i, digit in enumerate(digits)
    }
    fields: dict[str, Any] = {
        "kind": "menu",
        "prompt": prompt,
        "choices": choices,
        # Webex's menu plays once: no re-prompt. Faithful import keeps that (lint reports it).
        "max_tries": 1,
        "interruptible": props.get("interruptible", True) is not False,
    }
    timeout = props.get("entryTimeout")
    if _present(timeout):
        fields["entry_timeout_s"] = float(str(timeout))
    return Converted(fields, unsupported)


def _http_request(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    unsupported: list[str] = []
    fields: dict[str, Any] = {
        "kind": "http_request",
        "method": str(props.get("httpRequestMethod") or "GET").upper(),
    }
    if props.get("authenticated") is not False and _present(props.get("httpRequestPath")):
        connector = str(props.get("connectorId_name") or props.get("connectorId:name") or "")
        fields["connector"] = options.connector_map.get(connector, connector)
        fields["path"] = props.get("httpRequestPath")
    else:
        fields["url"] = props.get("httpRequestUrl")
    query = props.get("httpQueryParameters")
    if isinstance(query, Mapping) and query:
        fields["query"] = {str(k): str(v) for k, v in query.items()}
    headers = props.get("httpRequestHeaders")
    if isinstance(headers, Mapping) and headers:
        fields["headers"] = {str(k): str(v) for k, v in headers.items()}
    if _present(props.get("httpRequestBody")):
        fields["body"] = _body(props.get("httpRequestBody"), props.get("httpContentType"))
    if _present(props.get("httpRequestBodyFiles")):
        unsupported.append("httpRequestBodyFiles")
    content_type = props.get("httpContentType")
    if isinstance(content_type, str) and content_type:
        fields["content_type"] = content_type.lower()
    timeout = props.get("httpResponseTimeout")
    if _present(timeout):
        fields["timeout_ms"] = int(str(timeout))  # number or string in exports
    retries = props.get("retryAttempts")
    if _present(retries):
        fields["retries"] = int(str(retries))
    # Webex's HTTP Request has one output port, whatever happened; flows then read
    # `<name>.httpStatusCode` (`GetPaymentInfo.httpStatusCode==404`).
    fields["single_output"] = True
    converted = Converted(fields, unsupported)
    fields["parse"] = _output_rows(props, converted)
    return converted


def _body(body: Any, content_type: Any) -> Any:
    """A JSON body written as text becomes structured when it parses with its templates
    (as they sit inside JSON strings): each string is then rendered alone and the whole
    encoded as JSON, so a caller ID with a quote cannot break the document. Text that
    does not parse (a template outside a string) is kept as written."""
    if not isinstance(body, str) or "json" not in str(content_type or "json").lower():
        return body
    try:
        decoded = json.loads(body)
    except json.JSONDecodeError:
        return body
    return decoded if isinstance(decoded, dict | list) else body


def _output_rows(props: Mapping[str, Any], out: Converted) -> list[dict[str, Any]]:
    """`outputVariableArray` rows; the blank rows Flow Designer leaves behind are dropped,
    a half-filled one is dropped with a note."""
    rows: list[dict[str, Any]] = []
    for row in props.get("outputVariableArray") or []:
        if not isinstance(row, Mapping):
            continue
        variable, path = row.get("outputVariable"), row.get("jsonPathExp")
        if _present(variable) and _present(path):
            rows.append({"variable": variable, "path": path})
        elif _present(variable) or _present(path):
            out.notes.append(
                f"output row {variable or '?'} <- {path or '?'} is incomplete: dropped"
            )
    return rows


def _condition(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    return Converted({"kind": "condition", "expression": props.get("expression")})


def _named(props: Mapping[str, Any], key: str) -> str:
    return str(props.get(f"{key}_name") or props.get(f"{key}:name") or "")


def _queue(props: Mapping[str, Any], key: str, options: ImportOptions, out: Converted) -> str:
    """A queue property: its name when the export has one (mapped with `--queue`), else
    its id, kept and listed for the flow's `queues` map; "" when it has neither."""
    name, ident = _named(props, key), str(props.get(key) or "")
    if name:
        return options.queue_map.get(name, options.queue_map.get(ident, name))
    if ident:
        out.queue_ids.append(ident)
    return ident


def _queue_contact(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    unsupported: list[str] = []
    out = Converted({})
    if props.get("queueRadioGroup") == "variableQueue" and props.get("destinationVariable"):
        queue = "{{ " + str(props["destinationVariable"]) + " }}"
    else:
        queue = _queue(props, "destination", options, out)
    if not queue:
        # No queue chosen in Flow Designer (an unconfigured template): the activity's
        # name stands for it, to be mapped like an id. Never `queue: ''`.
        queue = str(props.get("name") or "queue")
        out.queue_ids.append(queue)
        out.notes.append(f"no queue is chosen: {queue!r} stands for it, map it with --queue")
    fields: dict[str, Any] = {"kind": "queue_contact", "queue": queue}
    _priority(props, fields, unsupported)
    fallback = _queue(props, "fallbackQueue", options, out)
    if fallback:
        fields["fallback_queue"] = fallback
    try:
        needs, relaxation = import_skills(props.get("skills"))
    except SkillsShapeError as exc:
        unsupported.append(f"skills: {exc}")
    else:
        if needs:
            fields["skills"] = needs
        if relaxation:
            fields["relaxation"] = relaxation
    out.fields, out.unsupported = fields, unsupported
    return out


def _priority(props: Mapping[str, Any], fields: dict[str, Any], unsupported: list[str]) -> None:
    """Static priority P1..P10, or a priority variable (`priorityRadioGroup`)."""
    variable = props.get("priorityVariable")
    if props.get("priorityRadioGroup") == "variablePriority" or (
        _present(variable) and not _present(props.get("priority"))
    ):
        if _present(variable):
            try:
                fields["priority"] = import_priority_variable(variable)
            except SkillsShapeError as exc:
                unsupported.append(str(exc))
        return
    priority = props.get("priority")
    if _present(priority):
        fields["priority"] = webex_priority(priority)


def webex_priority(value: Any) -> int:
    """Webex contact priority P1 (most urgent) .. P10 -> dipflow's 10 (first served) .. 1.

    Flow Designer shows "P1".."P10" with P1 served first (not verified against a
    published document; see docs/webex.md); dipflow serves higher numbers first.
    """
    match = re.fullmatch(r"\s*[Pp]?\s*(\d{1,2})\s*", str(value))
    if match is None or not 1 <= int(match.group(1)) <= 10:
        raise ValueError(f"priority {value!r} is not P1..P10")
    return 11 - int(match.group(1))


def _play_music(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    audio = str(props.get("prompt_name") or props.get("prompt") or WEBEX_DEFAULT_MUSIC)
    fields: dict[str, Any] = {
        "kind": "play_music",
        "audio": "hold" if audio == WEBEX_DEFAULT_MUSIC else audio,
    }
    duration = _number(props.get("duration"))
    # -1 and no duration both mean "until something else happens" (an agent answers):
    # Flow Designer's play-music in a queue loop plays until the contact is assigned.
    if duration is not None and duration > 0:
        fields["duration_s"] = duration
    return Converted(fields)


def _disconnect(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    return Converted({"kind": "disconnect_contact"})


_TARGETS = {"newBrowserTab": "new_tab", "insideDesktop": "embedded", "embedded": "embedded"}


def _screen_pop(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    unsupported: list[str] = []
    target = str(props.get("target") or "newBrowserTab")
    if target not in _TARGETS:
        unsupported.append(f"target {target!r}")
    query = props.get("queryParameters")
    fields: dict[str, Any] = {
        "kind": "screen_pop",
        "url": props.get("screenPopUrl"),
        "label": props.get("screenPopDesktopLabel") or "Screen pop",
        "target": _TARGETS.get(target, "new_tab"),
    }
    if isinstance(query, Mapping) and query:
        fields["query"] = {str(k): str(v) for k, v in query.items()}
    return Converted(fields, unsupported)


def _end(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    return Converted({"kind": "end"})


def _collect_digits(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    prompt, unsupported = _prompt(props)
    fields: dict[str, Any] = {
        "kind": "collect_digits",
        "prompt": prompt,
        "interruptible": props.get("interruptible", True) is not False,
    }
    for prop, native in (("minDigits", "min_digits"), ("maxDigits", "max_digits")):
        value = _number(props.get(prop))
        if value is not None:
            fields[native] = int(value)
    if "max_digits" in fields and "min_digits" not in fields:
        fields["min_digits"] = 1
    terminator = props.get("terminatorSymbol")
    fields["terminator"] = terminator if terminator in ("#", "*") else None
    for prop, native in (
        ("entryTimeout", "entry_timeout_s"),
        ("interDigitTimeout", "inter_digit_timeout_s"),
    ):
        value = _number(props.get(prop))
        if value is not None and value > 0:
            fields[native] = value
    return Converted(fields, unsupported)


def _case(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    # `menuLinks` are the branches' link ids, `menuLinks_input` the values they match.
    links = [str(link) for link in props.get("menuLinks") or []]
    values = props.get("menuLinks_input") or props.get("menuLinks:input") or []
    cases = {
        link: str(values[i]) if i < len(values) and values[i] is not None else ""
        for i, link in enumerate(links)
    }
    return Converted(
        {"kind": "case", "expression": str(props.get("expression") or ""), "cases": cases}
    )


def _parse(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    content = str(props.get("contentType") or "JSON").lower()
    fields: dict[str, Any] = {
        "kind": "parse",
        "input": str(props.get("inputVariable") or ""),
        "content_type": content,
        "single_output": True,  # Webex's Parse has one output port
    }
    converted = Converted(fields)
    fields["parse"] = _output_rows(props, converted)
    return converted


_AGENT_LOOKUP = {"agentEmail": "email", "agentId": "id", "agentName": "name"}


def _queue_to_agent(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    out = Converted({})
    unsupported: list[str] = []
    lookup = str(props.get("destinationLookupType") or "agentId")
    if lookup not in _AGENT_LOOKUP:
        unsupported.append(f"destinationLookupType {lookup!r}")
    fields: dict[str, Any] = {
        "kind": "queue_to_agent",
        "agent": str(props.get("destinationVariable") or props.get("destination") or ""),
        "lookup": _AGENT_LOOKUP.get(lookup, "id"),
        "reporting_queue": _queue(props, "reportingQueue", options, out) or "agent-queue",
        "park": props.get("parkContactToggle") is True,
    }
    recovery = _queue(props, "recoveryQueue", options, out)
    if recovery:
        fields["recovery_queue"] = recovery
    if props.get("priorityToggle") is not False:
        _priority(props, fields, unsupported)
    out.fields, out.unsupported = fields, unsupported
    return out


def _queue_lookup(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    out = Converted({})
    queue = _queue(props, "destination", options, out)
    fields: dict[str, Any] = {"kind": "queue_lookup", "queue": queue}
    lookback = _number(props.get("ewtLookbackMinutes"))
    if lookback is not None:
        fields["lookback_minutes"] = int(lookback)
    if not queue:
        out.unsupported.append("no queue chosen")
    out.fields = fields
    return out


def _virtual_agent(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    out = Converted({})
    ident = str(props.get("connector") or "")
    name = _named(props, "connector")
    connector = options.connector_map.get(name) or options.connector_map.get(ident)
    if connector is None:
        out.notes.append(
            f"virtual-agent connector {name or ident!r} is not mapped (--connector "
            f"{ident or name}=NAME): the activity takes its error path"
        )
    parameters: dict[str, Any] = {}
    bot = props.get("botParameters")
    if isinstance(bot, Mapping):
        parameters.update({str(k): v for k, v in bot.items()})
    event_data = props.get("eventData")
    if isinstance(event_data, str) and event_data.strip():
        try:
            decoded = json.loads(event_data)
        except json.JSONDecodeError:
            decoded = {"eventData": event_data}
        if isinstance(decoded, Mapping):
            parameters.update({str(k): v for k, v in decoded.items()})
    fields: dict[str, Any] = {"kind": "virtual_agent", "connector": connector}
    if parameters:
        fields["parameters"] = parameters
    if _present(props.get("eventName")):
        fields["event_name"] = str(props["eventName"])
    language = props.get("inputLanguage")
    if isinstance(language, str) and language.strip() and props.get("overrideLanguageToggle"):
        fields["language"] = language.strip()
    out.fields = fields
    return out


def _callback(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    out = Converted({})
    fields: dict[str, Any] = {"kind": "callback", "number": str(props.get("callbackDn") or "")}
    if _present(props.get("callbackAni")):
        fields["caller_id"] = str(props["callbackAni"])
    if props.get("callbackQueue_radioName") or props.get("callbackQueue:radioName"):
        queue = _queue(props, "callbackQueue", options, out)
        if queue:
            fields["queue"] = queue
    out.fields = fields
    return out


Converter = Callable[[Mapping[str, Any], ImportOptions], Converted]


def _blind_transfer(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    return Converted(
        {"kind": "blind_transfer", "destination": str(props.get("transfertodn") or "")}
    )


def _set_caller_id(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    # A bare Set Caller ID node is valid in Webex and changes nothing: an empty one here.
    return Converted({"kind": "set_caller_id", "caller_id": str(props.get("callerId") or "")})


def _feedback(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    method = props.get("surveyMethod")
    fields: dict[str, Any] = {"kind": "feedback"}
    if isinstance(method, str) and method:
        fields["survey"] = method
    return Converted(fields)


def _business_hours(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    """Webex keeps the schedule in Control Hub; the export has only its id (static, or a
    variable holding one). The id is kept and listed in the flow's `schedules`, to be
    mapped to a schedule (the flow, or the configuration); the import never stops here."""
    ident = props.get("businessHoursId")
    variable = props.get("businessHoursVariable")
    out = Converted({})
    if not ident and variable:
        out.unsupported.append(
            f"businessHoursVariable {variable!r} (a schedule chosen at run time: map the "
            "schedules it may name and use one business_hours activity per schedule)"
        )
        return out
    ident = str(ident or props.get("name") or "schedule")
    name = _named(props, "businessHoursId")
    out.fields = {"kind": "business_hours", "schedule_id": ident}
    out.schedule_ids.append(ident)
    out.notes.append(
        f"schedule {name or ident!r} lives in Control Hub: map {ident!r} to a schedule "
        "(`schedules:` of the flow or the configuration)"
    )
    return out


def _not_here(reason: str) -> Converter:
    """A Webex activity whose behaviour lives outside the export or outside dipflow."""

    def convert(props: Mapping[str, Any], options: ImportOptions) -> Converted:
        return Converted({}, unsupported=[reason])

    return convert


CONVERTERS: dict[str, Converter] = {
    "blind-transfer": _blind_transfer,
    "SetCallerID": _set_caller_id,
    "Feedback": _feedback,
    "Feedback-V2": _feedback,
    "business-hours": _business_hours,
    "NewPhoneContact": _start,
    "NewContact": _start,
    "ivr-collectdigits": _collect_digits,
    "case-statement": _case,
    "parse-activity": _parse,
    "queue-to-agent": _queue_to_agent,
    "queue-lookup": _queue_lookup,
    "ivr-virtualassistant": _virtual_agent,
    "ivr-virtualassistantvoice": _virtual_agent,
    "callback": _callback,
    "set-variable": _set_variable,
    "play-message": _play_message,
    "ivr-menu": _menu,
    "http-request-v2": _http_request,
    "http-request": _http_request,
    "condition-activity": _condition,
    "queue-contact": _queue_contact,
    "play-music": _play_music,
    "disconnect-contact": _disconnect,
    "screen-pop": _screen_pop,
    "end": _end,
    "end-subflow": _end,
    "NewSubFlowStart": _start,
}

# Flow Designer link `conditionExpr` -> native output name, where they differ.
# `default` is the activity's main output; a menu's `timeout` is our `no_input`.
_OUTPUT_RENAMES = {
    "timeout": "no_input",
    "failure": "error",
    "insufficientdata": "insufficient_data",
    "ENDED": "handled",
    "ESCALATE": "escalated",
    "workingHours": "working_hours",
}
_DEFAULT_OUTPUTS = {"http_request": "success", "case": "default", "business_hours": "default"}


def native_output(kind: str, condition: str) -> str:
    """The native output a Webex link condition stands for on an activity of `kind`."""
    if condition == "default":
        return _DEFAULT_OUTPUTS.get(kind, "out")
    if kind == "http_request" and condition == "timeout":
        return "timeout"
    return _OUTPUT_RENAMES.get(condition, condition)
