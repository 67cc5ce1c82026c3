"""Languages and voices checked where the author works: at `validate`. Layer 1 (flow).

A prompt in a language the TTS engine cannot speak fails on a live call, when the
caller is already listening; this check finds it in the file. The flow layer does not
know the TTS engine, so it is given a `VoiceCatalog` (the media layer's `EspeakCatalog`
implements it) and checks every value a prompt can be spoken with:

- the flow's `settings.language` / `settings.voice`, each prompt's `language` / `voice`,
  and each segment's;
- when one of them is a template (`{{ Language }}`), every value the flow can give the
  variables it reads: their defaults, and each `set_variable` of them whose value is
  plain text (the values a language menu sets). A value only known at run time (from a
  CRM lookup) cannot be checked here; a wrong one takes the prompt's `error` output.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from dipflow.flow import expressions
from dipflow.flow.advice import closest, did_you_mean

Loc = tuple[int | str, ...]


class VoiceCatalog(Protocol):
    """What a TTS engine can speak."""

    @property
    def engine(self) -> str:
        """The engine's name, as the author knows it (`espeak-ng`)."""
        ...

    def has_language(self, tag: str) -> bool: ...

    def has_voice(self, voice: str) -> bool: ...

    def language_names(self) -> Sequence[str]:
        """Tags to suggest for a misspelt language (`de-DE`, `en-US`...)."""
        ...

    def voice_names(self) -> Sequence[str]:
        """Names to suggest for a misspelt voice."""
        ...


def language_problem(catalog: VoiceCatalog, tag: str) -> str | None:
    if catalog.has_language(tag):
        return None
    names = catalog.language_names()
    near = did_you_mean(tag, names)
    primary, dash, region = tag.replace("_", "-").partition("-")
    if not near:  # `eng-US`: the language is misspelt, the region may be right
        known = closest(primary.lower(), {name.split("-", 1)[0] for name in names})
        if known is not None:
            near = f" (did you mean `{known}{dash}{region}`?)"
    return f"{catalog.engine} has no language `{tag}`{near}"


def voice_problem(catalog: VoiceCatalog, voice: str) -> str | None:
    if catalog.has_voice(voice):
        return None
    return f"{catalog.engine} has no voice `{voice}`{did_you_mean(voice, catalog.voice_names())}"


def _prompt_locs(activities: Any, base: Loc) -> Iterator[tuple[Loc, str, Mapping[str, Any]]]:
    """(loc, activity id, prompt mapping) for every prompt and prompt segment of a graph."""
    if not isinstance(activities, Mapping):
        return
    for ident, raw in activities.items():
        if not isinstance(raw, Mapping):
            continue
        for key, value in raw.items():
            if not (isinstance(key, str) and key.endswith("prompt") and isinstance(value, Mapping)):
                continue
            loc = (*base, ident, key)
            yield loc, str(ident), value
            segments = value.get("segments")
            if isinstance(segments, list):
                for index, segment in enumerate(segments):
                    if isinstance(segment, Mapping):
                        yield (*loc, "segments", index), str(ident), segment


def _graphs(data: Mapping[str, Any]) -> Iterator[tuple[Loc, Any]]:
    yield ("activities",), data.get("activities")
    event_flows = data.get("event_flows")
    if isinstance(event_flows, Mapping):
        for name, event_flow in event_flows.items():
            if isinstance(event_flow, Mapping):
                yield ("event_flows", name, "activities"), event_flow.get("activities")


def _variable_values(data: Mapping[str, Any]) -> dict[str, list[tuple[Loc, str | None, str]]]:
    """Plain-text values each variable can take: (loc, activity, value)."""
    values: dict[str, list[tuple[Loc, str | None, str]]] = {}
    variables = data.get("variables")
    if isinstance(variables, list):
        for index, item in enumerate(variables):
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                default = item.get("default")
                if isinstance(default, str) and default.strip():
                    values.setdefault(item["name"], []).append(
                        (("variables", index, "default"), None, default.strip())
                    )
    for base, activities in _graphs(data):
        if not isinstance(activities, Mapping):
            continue
        for ident, raw in activities.items():
            if not isinstance(raw, Mapping) or raw.get("kind") != "set_variable":
                continue
            name, value = raw.get("variable"), raw.get("value")
            plain = isinstance(value, str) and not expressions.has_markup(value)
            if isinstance(name, str) and isinstance(value, str) and value.strip() and plain:
                values.setdefault(name, []).append(
                    ((*base, ident, "value"), str(ident), value.strip())
                )
    return values


def check_document(report: Any, data: Mapping[str, Any], catalog: VoiceCatalog) -> None:
    """Report every language or voice the flow can use that `catalog` does not have."""
    values = _variable_values(data)
    checked: set[tuple[Loc, str]] = set()

    def check(loc: Loc, activity: str | None, what: str, value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            return
        problem_of = language_problem if what == "language" else voice_problem
        if not expressions.has_markup(value):
            problem = problem_of(catalog, value.strip())
            if problem is not None:
                report(loc, problem, activity=activity)
            return
        try:
            names = expressions.referenced_names(value)
        except expressions.ExpressionError:
            return  # the template checks report it
        for name in sorted(names):
            for value_loc, setter, candidate in values.get(name, []):
                if (value_loc, what) in checked:
                    continue
                checked.add((value_loc, what))
                problem = problem_of(catalog, candidate)
                if problem is not None:
                    report(
                        value_loc,
                        f"`{name}` sets the {what} of prompts, and {problem}",
                        activity=setter,
                    )

    settings = data.get("settings")
    if isinstance(settings, Mapping):
        check(("settings", "language"), None, "language", settings.get("language"))
        check(("settings", "voice"), None, "voice", settings.get("voice"))
    for base, activities in _graphs(data):
        for loc, ident, prompt in _prompt_locs(activities, base):
            check((*loc, "language"), ident, "language", prompt.get("language"))
            check((*loc, "voice"), ident, "voice", prompt.get("voice"))
