"""Flow expressions: Jinja2 in a sandbox, behaving like Webex's Pebble templates. Layer 1 (flow).

Every template field of a flow (prompt text, HTTP paths, screen-pop URLs,
`set_variable` values) and every condition goes through here.

Decisions (see docs/flows.md, "Expressions"):

- The environment is Jinja2's `ImmutableSandboxedEnvironment`: a template can
  read the call's variables and call the registered filters, but cannot reach
  Python internals (`__class__`, ...) nor mutate lists and dicts.
- Autoescape is off: text goes to TTS and to HTTP, never to HTML; each sink
  escapes explicitly (`tts_escape`, `ssml_escape`, `odata_quote`, `urlencode`).
- A missing variable renders as "" (Pebble with `strictVariables=false`, which
  is what Webex does), attribute access on it gives another missing value, and
  it equals `null`. Nothing fails at run time because of a typo: that is the
  linter's job, with `referenced_names()` against the flow's declared variables.
- Output prints the Pebble way: None -> "", booleans -> "true"/"false",
  lists and maps -> JSON.
- Nondeterministic helpers (`random` filter, `lipsum`) are removed: the engine
  must replay a call exactly.
- `*` and `**` are bounded, so a template cannot build a gigabyte string.
- Any failure (syntax, unknown filter, a filter refusing its input, sandbox
  violation) is an `ExpressionError`; nothing else escapes this module.
- Webex's field names: `x.length` is the length of a string, list or map (Pebble
  calls Java's `length()`), and a map's keys are found whatever their case
  (`NewPhoneContact.ani` reads `ANI`, as Webex accepts it).
- `now()` is the call's clock, given by the engine in the context under `CLOCK`
  (wall-clock Unix seconds); rendering never reads the system clock, so a
  replayed call renders the same. Without a clock in the context `now()` fails.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import (
    ChainableUndefined,
    Template,
    TemplateSyntaxError,
    Undefined,
    meta,
    nodes,
    pass_context,
)
from jinja2.nodes import Template as TemplateNode
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from dipflow.flow import dynamics_filters, filters, sayas
from dipflow.flow.errors import FlowError, Problem

MAX_SEQUENCE_PRODUCT = 100_000
"""Longest string or list that `*` may build (`"-" * 80` is fine, `"x" * 10**9` is not)."""
MAX_EXPONENT = 1_000

CLOCK = "__dipflow_clock__"
"""Context key of the call's wall clock (Unix seconds) that `now()` reads."""

_MARKERS = ("{{", "{%", "{#")
_TEMPLATE_FILENAME = "<template>"


class ExpressionError(FlowError, ValueError):
    """A template or expression that cannot be compiled or evaluated.

    Still a `ValueError`: callers that validate values (the engine's conversions, the
    command line) catch it as one."""

    def __init__(self, message: str, *, template: str, line: int | None = None) -> None:
        self.message = message
        self.line = line
        """1-based line within the template, when known."""
        self.template = template
        super().__init__([Problem(file=_TEMPLATE_FILENAME, message=message, line=line)])

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None and "\n" in self.template else ""
        return f"{where}{self.message}"


class PebbleUndefined(ChainableUndefined):
    """A missing value: prints "", is falsy and empty, equals `null`, chains `.x` and `[0]`."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, Undefined)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(None)


class _FlowEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(count, int)
                    and len(sequence) * count > MAX_SEQUENCE_PRODUCT
                ):
                    raise ValueError(f"`*` would build more than {MAX_SEQUENCE_PRODUCT} items")
        elif operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise ValueError(f"exponent larger than {MAX_EXPONENT}")
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        found = super().getattr(obj, attribute)
        if not isinstance(found, Undefined):
            return found
        return _webex_attribute(obj, attribute, found)


def _webex_attribute(obj: Any, attribute: str, missing: Any) -> Any:
    """What Webex finds where Jinja finds nothing: `length`, and map keys in any case."""
    if isinstance(obj, Mapping):
        folded = attribute.lower()
        for key in obj:
            if isinstance(key, str) and key.lower() == folded:
                return obj[key]
    if attribute == "length" and isinstance(obj, str | list | tuple | Mapping):
        return len(obj)
    return missing


@pass_context
def _now(context: Context) -> filters.JavaDateTime:
    clock = context.get(CLOCK)
    if not isinstance(clock, int | float):
        raise ValueError("now(): this template is rendered without a call clock")
    return filters.JavaDateTime.from_unix(float(clock))


def _build_environment() -> _FlowEnvironment:
    env = _FlowEnvironment(
        autoescape=False,
        undefined=PebbleUndefined,
        finalize=filters.to_text,
        keep_trailing_newline=True,
        cache_size=0,  # we cache compiled templates ourselves (`_compile`)
    )
    env.filters.pop("random", None)
    env.globals.pop("lipsum", None)
    # Pebble writes `null`; Jinja knows `none`. Both mean None here.
    env.globals["null"] = None
    env.globals["now"] = _now
    env.filters.update(filters.FILTERS)
    # The connectors area owns phone and OData semantics: its filters of the same
    # name (`e164`, `odata_quote`) replace our generic ones.
    extra: Mapping[str, Callable[..., Any]] = dynamics_filters.FILTERS
    env.filters.update(extra)
    env.tests.update(filters.TESTS)
    env.filters["say_as"] = sayas.say_as_filter
    return env


_ENV = _build_environment()
_GLOBAL_NAMES = frozenset(_ENV.globals)


def has_markup(text: str) -> bool:
    """Whether `text` holds any `{{ }}`, `{% %}` or `{# #}` (otherwise it is plain text)."""
    return any(marker in text for marker in _MARKERS)


def _line_of_failure(exc: BaseException) -> int | None:
    """The template line where a runtime error happened (Jinja rewrites tracebacks so)."""
    line: int | None = None
    tb: types.TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _wrap(exc: BaseException, template: str) -> ExpressionError:
    if isinstance(exc, ExpressionError):
        return exc
    if isinstance(exc, TemplateSyntaxError):
        return ExpressionError(exc.message or "syntax error", template=template, line=exc.lineno)
    if isinstance(exc, RecursionError):
        return ExpressionError("expression nested too deeply", template=template)
    message = str(exc) or type(exc).__name__
    return ExpressionError(message, template=template, line=_line_of_failure(exc))


@lru_cache(maxsize=4096)
def _compile(template: str) -> Template:
    try:
        return _ENV.from_string(template)
    except Exception as exc:
        raise _wrap(exc, template) from exc


@lru_cache(maxsize=4096)
def _compile_expression(expression: str) -> Callable[..., Any]:
    try:
        return _ENV.compile_expression(expression, undefined_to_none=True)
    except Exception as exc:
        raise _wrap(exc, expression) from exc


@lru_cache(maxsize=4096)
def _parse(template: str) -> TemplateNode:
    try:
        return _ENV.parse(template)
    except Exception as exc:
        raise _wrap(exc, template) from exc


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render a template string; a string with no `{{ }}`/`{% %}` comes back unchanged."""
    if not has_markup(template):
        return template
    compiled = _compile(template)
    try:
        return compiled.render(context)
    except Exception as exc:
        raise _wrap(exc, template) from exc


_SINGLE_OUTPUT = re.compile(r"^\s*\{\{(?P<inner>.*)\}\}\s*$", re.DOTALL)


def _as_expression(expression: str) -> str | None:
    """The bare expression of `{{ expr }}` or of a bare `expr`; None for a mixed template."""
    match = _SINGLE_OUTPUT.match(expression)
    if match is not None:
        inner = match.group("inner")
        return None if has_markup(inner) or "}}" in inner else inner
    return None if has_markup(expression) else expression


def _native(value: Any) -> Any:
    if isinstance(value, str):
        folded = value.strip().lower()
        if folded == "true":
            return True
        if folded == "false":
            return False
    return value


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """The native value of `{{ x == 1 }}` or `x == 1`; "true"/"false" text becomes a bool.

    A string mixing text and `{{ }}` is rendered, then read as "true"/"false" if it is.
    """
    bare = _as_expression(expression)
    if bare is None:
        return _native(render(expression, context))
    if not bare.strip():
        raise ExpressionError("empty expression", template=expression)
    compiled = _compile_expression(bare)
    try:
        value = compiled(context)
    except Exception as exc:
        raise _wrap(exc, expression) from exc
    return _native(value)


def value_of(expression: str, context: Mapping[str, Any]) -> Any:
    """The native value of `{{ x }}` or `x`, unconverted (a map stays a map, "true" stays
    text, missing is None); a mixed template renders to text."""
    bare = _as_expression(expression)
    if bare is None:
        return render(expression, context)
    if not bare.strip():
        raise ExpressionError("empty expression", template=expression)
    compiled = _compile_expression(bare)
    try:
        return compiled(context)
    except Exception as exc:
        raise _wrap(exc, expression) from exc


def check(template: str, *, expression: bool = False) -> None:
    """Raise `ExpressionError` when `template` does not compile (syntax, unknown filter or test).

    With `expression=True`, `template` is a condition (`{{ x == 1 }}` or bare `x == 1`).
    """
    if expression:
        bare = _as_expression(template)
        if bare is not None:
            if not bare.strip():
                raise ExpressionError("empty expression", template=template)
            _compile_expression(bare)
            return
    if has_markup(template):
        _compile(template)


def referenced_names(template: str, *, expression: bool = False) -> set[str]:
    """Root variable names the template reads (`NewPhoneContact` for `NewPhoneContact.ANI`).

    Names the template assigns itself (`{% set %}`, loop variables) and globals
    such as `null` or `range` are left out. Raises `ExpressionError` on bad syntax.
    """
    if expression:
        bare = _as_expression(template)
        if bare is not None:
            template = "{{ " + bare + " }}"
    if not has_markup(template):
        return set()
    names = meta.find_undeclared_variables(_parse(template))
    return {name for name in names if name not in _GLOBAL_NAMES}


def filter_names() -> frozenset[str]:
    """Every filter a template may use (for the docs and the linter)."""
    return frozenset(_ENV.filters)


def test_names() -> frozenset[str]:
    """Every test (`is empty`, `is null`...) a template may use (for error messages)."""
    return frozenset(_ENV.tests)


def unknown_filters_and_tests(template: str, *, expression: bool = False) -> list[str]:
    """Jinja's own message ("No filter named 'x'.") for each filter or test the template
    uses that does not exist.

    Jinja only checks names at compile time outside conditionals: inside `{% if %}` or an
    `a if b else c` a misspelt filter would fail at run time, so the validator asks here.
    """
    if expression:
        bare = _as_expression(template)
        if bare is not None:
            template = "{{ " + bare + " }}"
    if not has_markup(template):
        return []
    tree = _parse(template)
    found: list[str] = []
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        known = _ENV.filters if isinstance(node, nodes.Filter) else _ENV.tests
        what = "filter" if isinstance(node, nodes.Filter) else "test"
        message = f"No {what} named '{node.name}'."
        if node.name not in known and message not in found:
            found.append(message)
    return found
