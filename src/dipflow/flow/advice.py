"""Errors in plain words: what the author should write instead. Layer 1 (flow).

The parsers (PyYAML, Jinja2, python-jsonpath) report what *they* expected
("expected <block end>, but found '<block mapping start>'", "chunk after
expression", "expected TOKEN_COMMA"). A contact-center engineer writing a first
flow needs the fix instead: which line to re-indent, which value to quote, the
Jinja form of a Pebble expression. Each function here looks at the source text
around the parser's position and, when it recognises the mistake, returns the
message a user sees (and the exact place); otherwise None and the parser's own
message stands.

Every message is asserted word for word in tests/flow/test_flow_advice.py.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import yaml


@dataclass(frozen=True, slots=True)
class Advice:
    message: str
    line: int
    """1-based."""
    column: int
    """1-based."""


def closest(word: str, choices: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.7)
    return matches[0] if matches else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean `x`?)` for the closest choice, or ""."""
    near = closest(word, choices)
    return f" (did you mean `{near}`?)" if near else ""


# -- YAML ------------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return text.splitlines() or [""]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _previous_content_line(lines: list[str], index: int) -> int | None:
    """Index of the nearest line above `index` holding something other than a comment."""
    for above in range(index - 1, -1, -1):
        stripped = lines[above].strip()
        if stripped and not stripped.startswith("#"):
            return above
    return None


_KEY_VALUE = re.compile(r"^\s*(?:-\s+)?(?P<key>[^\s:#][^:#]*?):\s+(?P<value>\S.*)$")
_TEMPLATE_VALUE = re.compile(r"^(?P<lead>\s*(?:-\s+)?(?:[^\s:#][^:#]*?:\s+)?)(?P<value>\{\{.*)$")


def _quoted(value: str) -> str:
    value = value.strip()
    if '"' not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


def yaml_advice(exc: yaml.MarkedYAMLError, text: str) -> Advice | None:
    """A plain-words message for a YAML syntax error, or None when none fits."""
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return None
    lines = _lines(text)
    index = min(mark.line, len(lines) - 1)
    problem = exc.problem or ""
    context = exc.context or ""
    for finder in (_tab, _alias_or_anchor, _unquoted_template, _reserved_start):
        found = finder(problem, context, exc, lines, index, mark.column)
        if found is not None:
            return found
    if problem == "mapping values are not allowed here":
        return _colon_or_indentation(lines, index, mark.column)
    if "flow mapping" in context or "flow sequence" in context:
        return _unclosed_flow(exc, lines)
    if "quoted scalar" in context and exc.context_mark is not None:
        start = exc.context_mark
        quote = lines[min(start.line, len(lines) - 1)][start.column : start.column + 1] or '"'
        return Advice(
            f"the quote {quote} opened here is never closed: end the value with {quote}",
            start.line + 1,
            start.column + 1,
        )
    if context.startswith("while parsing a block") or "expected key" in problem:
        return _block_indentation(exc, lines, index)
    return None


def _tab(
    problem: str,
    context: str,
    exc: yaml.MarkedYAMLError,
    lines: list[str],
    index: int,
    column: int,
) -> Advice | None:
    if "'\\t'" not in problem:
        return None
    line = lines[index]
    tab = line.find("\t")
    if tab < 0:
        return None
    if line[:tab].strip() == "":
        return Advice(
            f"line {index + 1} is indented with a tab: YAML indents with spaces only"
            " (replace the tab with spaces)",
            index + 1,
            tab + 1,
        )
    return Advice(
        f"line {index + 1} holds a tab: YAML allows only spaces between a key and its value"
        " (replace the tab with a space)",
        index + 1,
        tab + 1,
    )


def _alias_or_anchor(
    problem: str,
    context: str,
    exc: yaml.MarkedYAMLError,
    lines: list[str],
    index: int,
    column: int,
) -> Advice | None:
    if context not in ("while scanning an alias", "while scanning an anchor"):
        return None
    start = exc.context_mark
    if start is None:
        return None
    line = lines[min(start.line, len(lines) - 1)]
    char = line[start.column : start.column + 1] or "*"
    rest = line[start.column + 1 :]
    what = "an alias" if char == "*" else "an anchor"
    if rest.lstrip().startswith(":"):
        return Advice(
            f'the menu key `{char}` must be quoted: write `"{char}":` (unquoted, YAML reads'
            f" `{char}` as the start of {what})",
            start.line + 1,
            start.column + 1,
        )
    return Advice(
        f'`{char}` must be quoted: write `"{char}"` (unquoted, YAML reads it as the start'
        f" of {what})",
        start.line + 1,
        start.column + 1,
    )


def _unquoted_template(
    problem: str,
    context: str,
    exc: yaml.MarkedYAMLError,
    lines: list[str],
    index: int,
    column: int,
) -> Advice | None:
    """`text: {{ Name }} is here`: YAML reads `{` as the start of a mapping."""
    for mark in (exc.context_mark, exc.problem_mark):
        if mark is None:
            continue
        candidate = lines[min(mark.line, len(lines) - 1)]
        match = _TEMPLATE_VALUE.match(candidate)
        if match is None:
            continue
        value = match.group("value").rstrip()
        lead = match.group("lead").strip()
        fixed = f"{lead} {_quoted(value)}" if lead else _quoted(value)
        return Advice(
            f"a value that starts with `{{{{` must be quoted: write `{fixed}` (unquoted,"
            " YAML reads `{` as the start of a mapping)",
            mark.line + 1,
            match.start("value") + 1,
        )
    return None


def _reserved_start(
    problem: str,
    context: str,
    exc: yaml.MarkedYAMLError,
    lines: list[str],
    index: int,
    column: int,
) -> Advice | None:
    match = re.fullmatch(r"found character '(.)' that cannot start any token", problem)
    if match is None:
        return None
    char = match.group(1)
    line = lines[index]
    value = line[column:].strip()
    shown = f"'{char}'" if char == "`" else f"`{char}`"
    return Advice(
        f"a value cannot start with {shown} unquoted: write `{_quoted(value)}`",
        index + 1,
        column + 1,
    )


def _colon_or_indentation(lines: list[str], index: int, column: int) -> Advice:
    line = lines[index]
    above = _previous_content_line(lines, index)
    if above is not None and _indent(line) > _indent(lines[above]):
        previous = lines[above].strip()
        if _KEY_VALUE.match(lines[above]) is not None:
            return Advice(
                f"check the indentation of line {index + 1}: it is indented deeper than"
                f" line {above + 1} (`{previous}`), so YAML reads it as the rest of that"
                " value; keys of one mapping start in the same column",
                index + 1,
                _indent(line) + 1,
            )
    match = _KEY_VALUE.match(line)
    if match is not None and ": " in match.group("value") + " ":
        key, value = match.group("key"), match.group("value")
        return Advice(
            f"line {index + 1}: the value of `{key}` holds `: `, which YAML reads as a new"
            f" key; quote the value: `{key}: {_quoted(value)}`",
            index + 1,
            match.start("value") + 1,
        )
    return Advice(
        f"check the indentation of line {index + 1}: YAML found a key where it expected a value",
        index + 1,
        column + 1,
    )


_KEY_LINE = re.compile(r"^(?P<indent> *)(?:- +)?[^\s#\-][^:]*:(\s|$)")


def _block_indentation(exc: yaml.MarkedYAMLError, lines: list[str], index: int) -> Advice:
    line = lines[index]
    column = _indent(line) + 1
    start = exc.context_mark
    opener = lines[min(start.line, len(lines) - 1)] if start is not None else ""
    if start is not None and start.line != index and opener[start.column : start.column + 1] == "-":
        after = opener[start.column + 1 :]
        item = start.column + 1 + len(after) - len(after.lstrip(" "))
        return Advice(
            f"check the indentation of line {index + 1}: it starts in column {column}; the"
            f" keys of the list item on line {start.line + 1} start in column {item + 1}",
            index + 1,
            column,
        )
    columns: set[int] = set()
    for above in lines[:index]:
        match = _KEY_LINE.match(above)
        if match is not None:
            columns.add(len(match.group("indent")) + 1)
    lower = max((c for c in columns if c < column), default=None)
    higher = min((c for c in columns if c > column), default=None)
    if column not in columns and (lower is not None or higher is not None):
        near = " and ".join(str(c) for c in (lower, higher) if c is not None)
        plural = "s" if lower is not None and higher is not None else ""
        return Advice(
            f"check the indentation of line {index + 1}: it starts in column {column}, where"
            f" no key above it starts (the nearest keys start in column{plural} {near})",
            index + 1,
            column,
        )
    return Advice(
        f"check the indentation of line {index + 1}: it does not line up with the lines above it",
        index + 1,
        column,
    )


def _unclosed_flow(exc: yaml.MarkedYAMLError, lines: list[str]) -> Advice | None:
    start = exc.context_mark
    if start is None:
        return None
    opener = lines[min(start.line, len(lines) - 1)]
    bracket = opener[start.column : start.column + 1]
    closing = "}" if bracket == "{" else "]"
    comment = _comment_start(opener, start.column)
    if comment is not None and opener[comment + 1 : comment + 2] == ":":
        return Advice(
            'the menu key `#` must be quoted: write `"#":` (unquoted, YAML reads `#` and'
            " the rest of the line as a comment)",
            start.line + 1,
            comment + 1,
        )
    return Advice(
        f"the `{bracket}` opened here is never closed: end it with `{closing}` on the same"
        " line, or quote the value if the bracket is text",
        start.line + 1,
        start.column + 1,
    )


def _comment_start(line: str, start: int = 0) -> int | None:
    """Column (0-based) of a `#` that starts a YAML comment on `line`, quotes respected."""
    quote: str | None = None
    for position in range(start, len(line)):
        char = line[position]
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"" and (position == 0 or line[position - 1] in " \t{[,:"):
            quote = char
        elif char == "#" and (position == 0 or line[position - 1] in " \t"):
            return position
    return None


def hidden_hash_keys(text: str, skip_lines: Iterable[int] = ()) -> list[Advice]:
    """`#: again` in a mapping: YAML reads it as a comment and the key silently vanishes.

    Found in the source text, since the parser never sees it. `skip_lines` (0-based)
    are lines inside block scalars, where `#` is text.
    """
    skipped = set(skip_lines)
    found: list[Advice] = []
    for index, line in enumerate(_lines(text)):
        if index in skipped:
            continue
        comment = _comment_start(line)
        if comment is None or not re.match(r"#:(\s|$)", line[comment:]):
            continue
        rest = line[comment + 2 :]
        trailing = _comment_start(rest)  # `#: repeat   # a note`: the note is no value
        rest = (rest[:trailing] if trailing is not None else rest).strip()
        found.append(
            Advice(
                f'the menu key `#` must be quoted: write `"#": {rest}` (unquoted, YAML reads'
                " the line as a comment and the key is lost)",
                index + 1,
                comment + 1,
            )
        )
    return found


# -- expressions -----------------------------------------------------------------------------

_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_LONE_EQUALS = re.compile(r"(?<![=!<>])=(?!=)")
_CONTAINS = re.compile(r"(?P<a>[\w.\[\]'\"]+)\s+contains\s+(?P<b>'[^']*'|\"[^\"]*\"|[\w.\[\]]+)")
_EQUALS = re.compile(r"\s+equals\s+")
_UNKNOWN = re.compile(r"No (?P<what>filter|test) named '(?P<name>[^']+)'")


@dataclass(frozen=True, slots=True)
class ExpressionAdvice:
    message: str
    offset: int | None
    """0-based character offset of the mistake in the template, when known."""


def _blank_strings(text: str) -> str:
    """`text` with the inside of string literals blanked, so `'a = b'` hides its `=`."""
    return _STRING.sub(lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1], text)


def _expression_spans(template: str, *, expression: bool) -> list[tuple[int, int]]:
    """(start, end) of the code in `template`: inside `{{ }}`/`{% %}`, or all of a bare
    condition."""
    spans = [(m.start(1), m.end(1)) for m in re.finditer(r"\{[{%](.*?)[}%]\}", template, re.S)]
    if not spans and expression:
        spans = [(0, len(template))]
    return spans


def expression_advice(
    template: str,
    message: str,
    *,
    expression: bool,
    compiles: Callable[[str], bool],
    names: Mapping[str, Iterable[str]],
) -> ExpressionAdvice | None:
    """A plain-words message for a template that does not compile, or None.

    `compiles(text)` says whether a rewrite compiles (so a suggested fix is a real one);
    `names` maps "filter" and "test" to the known names.
    """
    unknown = _UNKNOWN.search(message)
    if unknown is not None:
        what, name = unknown.group("what"), unknown.group("name")
        at = re.search(rf"\b{re.escape(name)}\b", _blank_strings(template))
        return ExpressionAdvice(
            f"unknown {what} `{name}`{did_you_mean(name, names.get(what, ()))}",
            at.start() if at else None,
        )
    blank = _blank_strings(template)
    for start, end in _expression_spans(template, expression=expression):
        code = blank[start:end]
        found = (
            _pebble_contains(template, code, start, end, compiles)
            or _pebble_equals(template, code, start, end, compiles)
            or _pebble_ternary(template, code, start, end, compiles)
            or _lone_equals(template, code, start, end, compiles)
        )
        if found is not None:
            return found
    return None


def _as_written(template: str, start: int, end: int, inner: str) -> str:
    """The template with the code between `start` and `end` replaced by `inner`, shown as a
    whole `{{ }}` expression when the template is a bare condition."""
    fixed = template[:start] + inner + template[end:]
    return fixed if "{" in template[:start] else "{{ " + fixed.strip() + " }}"


def _suggest(
    template: str, start: int, end: int, inner: str, compiles: Callable[[str], bool]
) -> str:
    fixed = _as_written(template, start, end, inner)
    return f", as in `{fixed}`" if compiles(fixed) else ""


def _lone_equals(
    template: str, code: str, start: int, end: int, compiles: Callable[[str], bool]
) -> ExpressionAdvice | None:
    original = template[start:end]
    triple = code.find("===")
    if triple >= 0:
        inner = original[:triple] + "==" + original[triple + 3 :]
        return ExpressionAdvice(
            f"`===` is not Jinja: write `==`{_suggest(template, start, end, inner, compiles)}",
            start + triple,
        )
    match = _LONE_EQUALS.search(code)
    if match is None or code.lstrip().startswith(("set ", "-set ")):
        return None
    inner = original[: match.start()] + "==" + original[match.end() :]
    inner = re.sub(r"\s*==\s*", " == ", inner) if " " in original else inner
    return ExpressionAdvice(
        f"`=` is not a comparison: write `==`{_suggest(template, start, end, inner, compiles)}",
        start + match.start(),
    )


def _pebble_contains(
    template: str, code: str, start: int, end: int, compiles: Callable[[str], bool]
) -> ExpressionAdvice | None:
    if re.search(r"\bcontains\b", code) is None:
        return None
    original = template[start:end]
    match = _CONTAINS.search(original)
    where = re.search(r"\bcontains\b", code)
    offset = start + (where.start() if where else 0)
    if match is None:
        return ExpressionAdvice("`contains` is Pebble syntax: write `b in a`", offset)
    inner = (
        original[: match.start()]
        + f"{match.group('b')} in {match.group('a')}"
        + original[match.end() :]
    )
    return ExpressionAdvice(
        f"`contains` is Pebble syntax: write `in`{_suggest(template, start, end, inner, compiles)}",
        offset,
    )


def _pebble_equals(
    template: str, code: str, start: int, end: int, compiles: Callable[[str], bool]
) -> ExpressionAdvice | None:
    match = _EQUALS.search(code)
    if match is None:
        return None
    original = template[start:end]
    inner = original[: match.start()] + " == " + original[match.end() :]
    return ExpressionAdvice(
        f"`equals` is Pebble syntax: write `==`{_suggest(template, start, end, inner, compiles)}",
        start + match.start() + 1,
    )


def _pebble_ternary(
    template: str, code: str, start: int, end: int, compiles: Callable[[str], bool]
) -> ExpressionAdvice | None:
    question = code.find("?")
    if question < 0:
        return None
    colon = code.find(":", question)
    if colon < 0:
        return None
    original = template[start:end]
    condition = original[:question].strip()
    then, otherwise = original[question + 1 : colon].strip(), original[colon + 1 :].strip()
    pad = " " if original.startswith(" ") else ""
    inner = f"{pad}{then} if {condition} else {otherwise}{pad}"
    return ExpressionAdvice(
        "`a ? b : c` is Pebble syntax: write `b if a else c`"
        f"{_suggest(template, start, end, inner, compiles)}",
        start + question,
    )


# -- JSONPath --------------------------------------------------------------------------------


def jsonpath_advice(path: str) -> str | None:
    """A plain-words message for a JSONPath with an unclosed `[`, or None."""
    depth = 0
    opened: int | None = None
    blank = _blank_strings(path)
    for position, char in enumerate(blank):
        if char == "[":
            depth += 1
            opened = position if depth == 1 else opened
        elif char == "]":
            depth -= 1
    if depth <= 0 or opened is None:
        return None
    inside = re.match(r"\[(\d+|'[^']*'|\"[^\"]*\"|\*)", path[opened:])
    if inside is None:
        return f"invalid JSONPath {path!r}: the `[` at character {opened + 1} is never closed"
    cut = opened + inside.end()
    fixed = path[:cut] + "]" + path[cut:]
    return f"invalid JSONPath {path!r}: missing `]` after `{path[opened:cut]}`; write `{fixed}`"
