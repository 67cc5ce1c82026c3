"""Load a flow file (YAML or JSON) into a `Flow`, or say all that is wrong. Layer 1 (flow).

Pipeline: parse with positions (`yamlsource`), report duplicate keys, validate
with the pydantic model, run the semantic checks (`checks`) on the raw data,
and map every problem to `file:line:col`. All problems are collected; a file
with any problem raises `FlowError` listing them in file order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dipflow.flow import advice, checks, queueloop
from dipflow.flow import voices as voice_checks
from dipflow.flow.errors import FlowError, Problem, dotted, sort_problems
from dipflow.flow.model import (
    ACTIVITY_KINDS,
    EventFlow,
    EventName,
    Flow,
    FlowSettings,
    HttpOutput,
    Prompt,
    Variable,
)
from dipflow.flow.voices import VoiceCatalog
from dipflow.flow.yamlsource import YamlDocument, YamlSyntaxError, parse_yaml

# Webex Flow Designer names, to suggest the dipflow kind when a file uses them.
_WEBEX_KINDS = {
    "NewPhoneContact": "start",
    "set-variable": "set_variable",
    "play-message": "play_message",
    "http-request-v2": "http_request",
    "http-request": "http_request",
    "condition-activity": "condition",
    "ivr-menu": "menu",
    "queue-contact": "queue_contact",
    "play-music": "play_music",
    "disconnect-contact": "disconnect_contact",
    "screen-pop": "screen_pop",
}


class _Collector:
    """Turns (loc, message) reports into located `Problem`s."""

    def __init__(self, document: YamlDocument) -> None:
        self.document = document
        self.problems: list[Problem] = []

    def _written(self, loc: Sequence[int | str]) -> Sequence[int | str]:
        return _generated_loc(self.document, loc) if self.document.root is not None else loc

    def report(
        self,
        loc: Sequence[int | str],
        message: str,
        *,
        activity: str | None = None,
        key: bool = False,
        template_line: int | None = None,
        template_column: int | None = None,
    ) -> None:
        line: int | None
        column: int | None
        loc = self._written(loc)
        line, column = self.document.locate(loc, key=key)
        node = self.document.node(loc)
        if template_line is not None and isinstance(node, yaml.ScalarNode) and node.style == "|":
            # A literal block's text starts on the line after the `|` indicator;
            # the column is where that line's text starts (Jinja gives no column).
            line, column = node.start_mark.line + 1 + template_line, None
            buffer = node.start_mark.buffer
            if isinstance(buffer, str):
                source = buffer.splitlines()
                if 0 < line <= len(source):
                    column = len(source[line - 1]) - len(source[line - 1].lstrip()) + 1
                    if template_column is not None:
                        column += template_column - 1
        elif template_column is not None and isinstance(node, yaml.ScalarNode):
            column = _column_in_scalar(node, template_line or 1, template_column, column)
        if self.document.root is None and self.document.data is not None:
            line, column = None, None  # JSON that only the json module could read
        self.problems.append(
            Problem(
                file=self.document.filename,
                line=line,
                column=column,
                activity=activity,
                path=dotted(loc),
                message=message,
            )
        )


def _generated_loc(document: YamlDocument, loc: Sequence[int | str]) -> Sequence[int | str]:
    """An activity expanded from a `queue_experience` is reported at the one written."""
    for index in (1, 3):
        if len(loc) > index and document.node(loc[: index + 1]) is None:
            base = queueloop.generated_from(str(loc[index]))
            if base is not None and document.node((*loc[:index], base)) is not None:
                return (*loc[:index], base)
    return loc


def _column_in_scalar(
    node: yaml.ScalarNode, template_line: int, template_column: int, column: int | None
) -> int | None:
    """The file column of a character of a one-line scalar (the mistake in a template)."""
    start, end = node.start_mark, node.end_mark
    if template_line != 1 or start.line != end.line or node.style not in (None, "", "'", '"'):
        return column
    source = start.buffer[start.index : end.index] if isinstance(start.buffer, str) else ""
    if node.style == '"' and "\\" in source:
        return column  # escapes shift the text against the source
    quote = 1 if node.style in ("'", '"') else 0
    return start.column + 1 + quote + template_column - 1


def _block_scalar_lines(root: yaml.Node | None) -> set[int]:
    """0-based lines inside multi-line scalars, where `#` is text and not a comment."""
    lines: set[int] = set()
    seen: set[int] = set()

    def walk(node: yaml.Node) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            lines.update(range(node.start_mark.line + 1, node.end_mark.line + 1))
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(key)
                walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)

    if root is not None:
        walk(root)
    return lines


def _prompt_as_text(field: str, value: Any) -> str | None:
    """`prompt: "Hello"`: the fix is `prompt: {text: "Hello"}`."""
    if not field.endswith("prompt") or not isinstance(value, str):
        return None
    return f'`{field}` is a mapping, not text: write `{field}: {{text: "{value}"}}`'


def _step(node: Any, part: int | str) -> Any:
    if isinstance(node, Mapping):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _clean_loc(raw_loc: Sequence[int | str], data: Any) -> tuple[tuple[int | str, ...], bool]:
    """Drop pydantic's union tags and `[key]` markers; say whether a dict key was at fault."""
    clean: list[int | str] = []
    node: Any = data
    at_key = False
    for part in raw_loc:
        if part == "[key]":
            at_key = True
            continue
        if isinstance(node, Mapping) and part not in node and node.get("kind") == part:
            continue  # the discriminator's tag, not a path step
        node = _step(node, part)
        clean.append(part)
    return tuple(clean), at_key


def _activity_of(loc: Sequence[int | str]) -> str | None:
    if len(loc) > 1 and loc[0] == "activities":
        return str(loc[1])
    if len(loc) > 3 and loc[0] == "event_flows" and loc[2] == "activities":
        return str(loc[3])
    return None


def _model_at(loc: Sequence[int | str], data: Any) -> type[Any] | None:
    """The model class describing the mapping at `loc` (for field-name suggestions)."""
    parts = list(loc)
    if parts[:1] == ["event_flows"] and len(parts) >= 2:
        if len(parts) == 2:
            return EventFlow
        parts = parts[2:]
        data = data.get("event_flows", {}).get(loc[1], {}) if isinstance(data, Mapping) else {}
    if not parts:
        return Flow
    if parts == ["settings"]:
        return FlowSettings
    if len(parts) == 2 and parts[0] == "variables":
        return Variable
    if parts[0] == "activities" and len(parts) >= 2:
        raw = data.get("activities", {}).get(parts[1]) if isinstance(data, Mapping) else None
        kind = raw.get("kind") if isinstance(raw, Mapping) else None
        if len(parts) == 2:
            return checks.KIND_CLASSES.get(kind) if isinstance(kind, str) else None
        if len(parts) == 3 and str(parts[2]).endswith("prompt"):
            return Prompt
        if len(parts) == 4 and parts[2] == "parse":
            return HttpOutput
    return None


def _kind_message(tag: str) -> str:
    hint = _WEBEX_KINDS.get(tag)
    near = f" (did you mean '{hint}'?)" if hint else checks.suggestion(tag, ACTIVITY_KINDS)
    return f"unknown activity kind '{tag}'{near}; valid kinds: {', '.join(ACTIVITY_KINDS)}"


def _pydantic_problems(collector: _Collector, exc: ValidationError, data: Any) -> None:
    for error in exc.errors(include_url=False):
        loc, at_key = _clean_loc(error["loc"], data)
        kind = error["type"]
        field = str(loc[-1]) if loc else ""
        activity = _activity_of(loc)
        ctx = error.get("ctx") or {}
        message = str(error["msg"]).removeprefix("Value error, ")
        key = at_key
        if kind == "union_tag_invalid":
            message = _kind_message(str(ctx.get("tag", "")))
            loc = (*loc, "kind")
        elif kind == "union_tag_not_found":
            message = f"activity has no `kind`; valid kinds: {', '.join(ACTIVITY_KINDS)}"
            key = True
        elif kind == "missing":
            message = f"missing required field `{field}`"
            loc, key = loc[:-1], True
        elif kind == "extra_forbidden":
            model = _model_at(loc[:-1], data)
            near = checks.suggestion(field, model.model_fields) if model is not None else ""
            message = f"unknown field `{field}`{near}"
            key = True
        elif kind in {"value_error", "assertion_error"}:
            key = True  # a model-level rule: point at the key naming the mapping
        elif kind == "model_type" and (hint := _prompt_as_text(field, error.get("input"))):
            message = hint
        elif kind == "literal_error" and loc == ("format",):
            message = f"unsupported format {error.get('input')!r}: this dipflow reads format 1"
        elif at_key and len(loc) == 2 and loc[0] == "event_flows":
            events = [event.value for event in EventName]
            message = (
                f"unknown event `{field}`{checks.suggestion(field, events)};"
                f" events: {', '.join(events)}"
            )
        elif at_key:
            message = f"bad key `{field}`: {message}"
        elif (
            field
            and not isinstance(loc[-1], int)
            and kind not in {"value_error", "assertion_error"}
        ):
            message = f"`{field}`: {message}"
        collector.report(loc, message, activity=activity, key=key)


def validate_text(
    text: str, *, filename: str = "<flow>", voices: VoiceCatalog | None = None
) -> tuple[Flow | None, list[Problem]]:
    """The flow and no problems, or None and every problem found (sorted by position).

    With `voices`, every language and voice a prompt can be spoken with is checked
    against what that TTS engine has (`dipflow.flow.voices`)."""
    try:
        document = parse_yaml(text, filename)
    except YamlSyntaxError as exc:
        problem = Problem(file=filename, line=exc.line, column=exc.column, message=exc.message)
        return None, [problem]
    collector = _Collector(document)
    for hidden in advice.hidden_hash_keys(text, _block_scalar_lines(document.root)):
        collector.problems.append(
            Problem(file=filename, line=hidden.line, column=hidden.column, message=hidden.message)
        )
    for duplicate in document.duplicate_keys:
        collector.problems.append(
            Problem(
                file=filename,
                line=duplicate.line,
                column=duplicate.column,
                activity=_activity_of(duplicate.path) or _activity_of((*duplicate.path, "")),
                path=dotted((*duplicate.path, duplicate.key)),
                message=f"duplicate key `{duplicate.key}` (first at line {duplicate.first_line})",
            )
        )
    data, block_problems = queueloop.expand(document.data)
    for loc, message in block_problems:
        collector.report(loc, message, activity=_activity_of(loc), key=True)
    if not isinstance(data, Mapping):
        collector.report(
            (), "a flow file is a mapping with `name`, `start` and `activities` at the top"
        )
        return None, sort_problems(collector.problems)
    flow: Flow | None = None
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        _pydantic_problems(collector, exc, data)
    checks.check_document(collector.report, data)
    if voices is not None:
        voice_checks.check_document(collector.report, data, voices)
    if collector.problems:
        return None, sort_problems(collector.problems)
    return flow, []


def load_flow_text(text: str, *, filename: str = "<flow>") -> Flow:
    """Parse and validate a flow; `FlowError` lists every problem with its position."""
    flow, problems = validate_text(text, filename=filename)
    if flow is None:
        raise FlowError(problems)
    return flow


def read_flow_file(path: str | Path) -> str:
    """The file's text; `FlowError` (not OSError) when it cannot be read."""
    file = Path(path)
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FlowError([Problem(file=str(file), message=f"not UTF-8 text: {exc.reason}")]) from exc
    except OSError as exc:
        raise FlowError([Problem(file=str(file), message=exc.strerror or str(exc))]) from exc


def load_flow(path: str | Path) -> Flow:
    """Load the flow file at `path`; `FlowError` on any problem, including an unreadable file."""
    return load_flow_text(read_flow_file(path), filename=str(path))
