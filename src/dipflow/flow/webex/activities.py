"""One converter per Webex activity kind. Layer 1 (flow).

Flow Designer properties -> native activity fields.

Property names are those of Flow Designer's export (see ../shared/webex/README.md).
Properties that only describe the canvas or the editor (`_renderRequestTimestamp`,
`*:name`, `*_type`...) are ignored, as the importer must not depend on what it
does not understand. Properties that would change behaviour and that dipflow
cannot honour are returned as `unsupported` so the import can report them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Flow Designer's default music file maps to dipflow's bundled hold music.
WEBEX_DEFAULT_MUSIC = "defaultmusic_on_hold.wav"

# Webex TTS voice names look like "en-US-Standard-C": the language is the first two parts.
_VOICE_LANGUAGE = re.compile(r"^([a-z]{2,3}-[A-Z]{2})\b")


@dataclass(slots=True)
class Converted:
    """A native activity as a plain mapping, plus what could not be carried over."""

    fields: dict[str, Any]
    unsupported: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportOptions:
    connector_map: Mapping[str, str] = field(default_factory=dict)
    """Webex connector name -> dipflow connector name (unmapped names are kept)."""
    queue_map: Mapping[str, str] = field(default_factory=dict)
    """Webex queue name -> dipflow queue name (unmapped names are kept)."""


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def _prompt(props: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Flow Designer prompts: `promptsTts` (TTS segments) and `prompts` (audio files)."""
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
    for prop in ("volumeGainDb", "speakingRate"):
        if _present(props.get(prop)):
            unsupported.append(prop)
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
        fields["body"] = props.get("httpRequestBody")
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
    outputs = props.get("outputVariableArray") or []
    fields["parse"] = [
        {"variable": o.get("outputVariable"), "path": o.get("jsonPathExp")}
        for o in outputs
        if isinstance(o, Mapping)
    ]
    return Converted(fields, unsupported)


def _condition(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    return Converted({"kind": "condition", "expression": props.get("expression")})


def _queue_contact(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    unsupported: list[str] = []
    if props.get("queueRadioGroup") == "variableQueue" and props.get("destinationVariable"):
        queue = "{{ " + str(props["destinationVariable"]) + " }}"
    else:
        name = str(props.get("destination_name") or props.get("destination:name") or "")
        queue = options.queue_map.get(name, name)
    fields: dict[str, Any] = {"kind": "queue_contact", "queue": queue}
    priority = props.get("priority")
    if _present(priority):
        fields["priority"] = webex_priority(priority)
    if _present(props.get("priorityVariable")):
        unsupported.append("priorityVariable")
    fallback = props.get("fallbackQueue_name") or props.get("fallbackQueue:name")
    if _present(fallback):
        fields["fallback_queue"] = options.queue_map.get(str(fallback), str(fallback))
    if _present(props.get("skills")):
        unsupported.append("skills (skill-based routing)")
    return Converted(fields, unsupported)


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
    duration = props.get("duration")
    if _present(duration):
        fields["duration_s"] = float(str(duration))
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


Converter = Callable[[Mapping[str, Any], ImportOptions], Converted]

CONVERTERS: dict[str, Converter] = {
    "NewPhoneContact": _start,
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
}

# Flow Designer link `conditionExpr` -> native output name, where they differ.
# `default` is the activity's main output; a menu's `timeout` is our `no_input`.
_OUTPUT_RENAMES = {"timeout": "no_input", "failure": "error"}


def native_output(kind: str, condition: str) -> str:
    """The native output a Webex link condition stands for on an activity of `kind`."""
    if condition == "default":
        return "success" if kind == "http_request" else "out"
    if kind == "http_request" and condition == "timeout":
        return "timeout"
    return _OUTPUT_RENAMES.get(condition, condition)
