"""XPath for the Parse activity's XML documents, on the standard library's ElementTree.

Webex's Parse activity reads XML with XPath. ElementTree implements the location
subset of XPath 1.0 (child and descendant steps, `*`, `.`, `..`, `[n]`, `[@a]`,
`[@a='v']`, `[tag]`, `[tag='v']`); on top of it this module accepts what people write
in flows:

- absolute paths: `/Envelope/Body/x` (the first step must name the document's root
  element) and `//x` (anywhere);
- a last step `text()` (the element's text) or `@name` (an attribute's value).

A path selecting several nodes gives the first; nothing selected gives None.
Documents are refused when they declare a DOCTYPE (entity expansion is the classic
XML bomb; a web service answer never needs one).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_LOCAL = re.compile(r"^\{[^}]*\}")


class XPathError(ValueError):
    """An XPath this module cannot evaluate; `path` is the text as written."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class XmlDocumentError(ValueError):
    """Text that is not an XML document this module accepts."""


@dataclass(frozen=True, slots=True)
class CompiledXPath:
    path: str
    root: str | None
    """Name the document's root element must have (an absolute `/root/...` path)."""
    steps: str
    """What ElementTree evaluates from the root element ("." for the root itself)."""
    take: str
    """"node" (the element's text), "text", or "@name" for an attribute."""

    def extract(self, root: ET.Element) -> Any:
        if self.root is not None and _local(root.tag) != self.root:
            return None
        found = [root] if self.steps == "." else root.findall(self.steps)
        if self.steps.startswith(".//{*}") and _local(root.tag) == self.steps[6:]:
            found.insert(0, root)  # `//x` selects the root too when it is an x
        if not found:
            return None
        node = found[0]
        if self.take.startswith("@"):
            return node.get(self.take[1:])
        return node.text if node.text is not None else ""


def _local(tag: str) -> str:
    return _LOCAL.sub("", tag)


_STEP = re.compile(r"^(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)(\[.*)?$")


def _any_namespace(step: str) -> str:
    """`soap:Body` or `Body` -> `{*}Body`: names match in any namespace (or none), so a
    flow need not declare the document's namespace prefixes."""
    match = _STEP.match(step)
    if match is None:
        return step
    return "{*}" + match.group(1) + (match.group(2) or "")


@lru_cache(maxsize=1024)
def compile_xpath(path: str) -> CompiledXPath:
    text = path.strip()
    if not text:
        raise XPathError("empty XPath", path=path)
    take = "node"
    if text.endswith("/text()"):
        take, text = "text", text[: -len("/text()")]
    else:
        attribute = re.search(r"/@([A-Za-z_][\w.-]*)$", text)
        if attribute is not None:
            take, text = "@" + attribute.group(1), text[: attribute.start()]
    root: str | None = None
    if text.startswith("//"):
        steps = ".//" + text[2:]
    elif text.startswith("/"):
        first, _, rest = text[1:].partition("/")
        if not first or "[" in first:
            raise XPathError(f"invalid XPath {path!r}: name the root element", path=path)
        root, steps = first.rpartition(":")[2], (rest or ".")
    else:
        steps = text or "."
    if "(" in steps or "|" in steps or "::" in steps:
        raise XPathError(
            f"invalid XPath {path!r}: functions, unions and axes are not supported", path=path
        )
    steps = "/".join(_any_namespace(step) for step in steps.split("/"))
    probe = ET.Element("probe")
    try:
        if steps != ".":
            probe.findall(steps)
    except (SyntaxError, KeyError, TypeError) as exc:
        raise XPathError(f"invalid XPath {path!r}: {exc}", path=path) from exc
    return CompiledXPath(path=path, root=root, steps=steps, take=take)


def parse_document(text: str) -> ET.Element:
    """The root element of `text`; `XmlDocumentError` when it is not (safe) XML."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise XmlDocumentError("XML with a DOCTYPE or entity declarations is refused")
    try:
        return ET.fromstring(text)  # noqa: S314 - DOCTYPEs refused above
    except ET.ParseError as exc:
        raise XmlDocumentError(f"not well-formed XML: {exc}") from exc


def extract(path: str, root: ET.Element) -> Any:
    return compile_xpath(path).extract(root)
