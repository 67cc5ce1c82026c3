"""SIP message parsing and serialisation (RFC 3261 §7, §20, §25), sans-IO. Layer 4 (channels).

Our own small parser rather than a general one: it accepts exactly what a user
agent needs, bounds everything (message size, header count, line length) and
raises only `SipParseError`, so that hostile input can never escape as another
exception. Header names are matched case-insensitively and compact forms
(§7.3.3) are expanded; comma-separated values of list headers (Via, Route,
Record-Route, Contact) are split outside quotes and angle brackets (§7.3.1).

Headers are UTF-8 (§7.3.1), but phones and PBXs send Latin-1 display names
("Jos\xe9"). Such a message is not garbage: its header bytes that are not UTF-8 are
kept as lone surrogates (`surrogateescape`), so every header we copy into a
response goes back byte for byte, and `readable` turns them into text for
people (the invalid bytes read as Latin-1).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from urllib.parse import unquote

from dipflow.channels.errors import ChannelError

MAX_HEADERS = 96
MAX_LINE = 4096

_COMPACT = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Route",
        "Record-Route", "Content-Type", "Content-Length", "Allow", "Accept", "Supported",
        "User-Agent", "Server", "Expires", "Authorization", "WWW-Authenticate",
        "P-Asserted-Identity", "Reason", "Unsupported", "Require",
    )
}  # fmt: skip
_LIST_HEADERS = frozenset({"via", "route", "record-route", "contact"})
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")


class SipParseError(ChannelError):
    """Bytes that are not a SIP message we can process."""


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error("dipflow-latin1", _latin1_fallback)


def unescaped(text: str) -> str:
    """`text` from a header without lone surrogates: the bytes that were not UTF-8 read as
    Latin-1 (the charset of the phones that send them). Safe to encode anywhere."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "dipflow-latin1")


def readable(text: str) -> str:
    """`text` from a header, for people: `unescaped`, control characters as spaces."""
    return "".join(" " if ch < " " or ch == "\x7f" else ch for ch in unescaped(text))


def canonical_name(name: str) -> str:
    lower = name.lower()
    lower = _COMPACT.get(lower, lower).lower()
    return _CANONICAL.get(lower, name)


def split_list(value: str) -> list[str]:
    """Split a header value on commas that are outside quotes and <...> (§7.3.1)."""
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    escaped = False
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and not quoted and depth == 0:
            parts.append(value[start:i].strip())
            start = i + 1
    parts.append(value[start:].strip())
    return [p for p in parts if p]


@dataclass(slots=True)
class Headers:
    """An ordered multimap of header fields; names compared case-insensitively."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        key = canonical_name(name).lower()
        for k, v in self.items:
            if k.lower() == key:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        key = canonical_name(name).lower()
        return [v for k, v in self.items if k.lower() == key]

    def add(self, name: str, value: str) -> None:
        self.items.append((canonical_name(name), value))

    def set(self, name: str, value: str) -> None:
        self.remove(name)
        self.add(name, value)

    def remove(self, name: str) -> None:
        key = canonical_name(name).lower()
        self.items = [(k, v) for k, v in self.items if k.lower() != key]

    def copy(self) -> Headers:
        return Headers(list(self.items))


@dataclass(slots=True)
class SipMessage:
    """A request (`method` set) or a response (`status` set)."""

    method: str | None = None
    uri: str | None = None
    status: int | None = None
    reason: str = ""
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        """(sequence number, method); raises `SipParseError` when malformed."""
        return parse_cseq(self.headers.get("CSeq") or "")

    @property
    def top_via(self) -> Via:
        vias = self.headers.get_all("Via")
        if not vias:
            raise SipParseError("no Via")
        return Via.parse(vias[0])

    def to_bytes(self) -> bytes:
        if self.method is not None:
            start = f"{self.method} {self.uri} SIP/2.0"
        else:
            start = f"SIP/2.0 {self.status} {self.reason}"
        lines = [start]
        lines.extend(f"{k}: {v}" for k, v in self.headers.items if k.lower() != "content-length")
        lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body


def parse_cseq(value: str) -> tuple[int, str]:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10:
        raise SipParseError(f"bad CSeq {value[:40]!r}")
    number = int(parts[0])
    if number >= 2**31:  # §8.1.1.5: less than 2**31
        raise SipParseError("CSeq out of range")
    return number, parts[1].upper()


def _is_token(text: str) -> bool:
    return bool(text) and all(ch in _TOKEN_CHARS for ch in text)


def parse_message(data: bytes, *, max_size: int = 65535) -> SipMessage:
    """Parse one complete message (a UDP datagram or a framed TCP message)."""
    if len(data) > max_size:
        raise SipParseError("message too large")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")  # §7.5: tolerate bare LF
        if not sep:
            raise SipParseError("no end of headers")
    text = head.decode("utf-8", "surrogateescape")  # Latin-1 names: see the module docstring
    raw_lines = text.replace("\r\n", "\n").split("\n")
    # Unfold continuation lines (§7.3.1): a line starting with whitespace continues the last.
    lines: list[str] = []
    for line in raw_lines:
        if len(line) > MAX_LINE:
            raise SipParseError("line too long")
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    while lines and not lines[0]:
        lines.pop(0)  # §7.5: ignore leading empty lines (keep-alives on streams)
    if not lines:
        raise SipParseError("empty message")
    message = _parse_start_line(lines[0])
    if len(lines) - 1 > MAX_HEADERS:
        raise SipParseError("too many headers")
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _is_token(name):
            raise SipParseError(f"bad header line {line[:40]!r}")
        value = value.strip()
        key = canonical_name(name)
        if key.lower() in _LIST_HEADERS and value != "*":
            for part in split_list(value):
                message.headers.add(key, part)
        else:
            message.headers.add(key, value)
    length_text = message.headers.get("Content-Length")
    if length_text is not None:
        if not length_text.isdigit() or len(length_text) > 9:
            raise SipParseError("bad Content-Length")
        length = int(length_text)
        if length > len(body):
            raise SipParseError("body shorter than Content-Length")
        body = body[:length]
    message.body = body
    for required in ("Via", "From", "To", "Call-ID", "CSeq"):
        if message.headers.get(required) is None:
            raise SipParseError(f"missing {required}")
    number, method = message.cseq
    del number
    if message.is_request and method != message.method and message.method != "ACK":
        raise SipParseError("CSeq method does not match the request")
    return message


def _parse_start_line(line: str) -> SipMessage:
    if line.startswith("SIP/2.0 "):
        parts = line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) != 3:
            raise SipParseError("bad status line")
        status = int(parts[1])
        if not 100 <= status <= 699:
            raise SipParseError("status out of range")
        return SipMessage(status=status, reason=parts[2] if len(parts) > 2 else "")
    parts = line.split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0":
        raise SipParseError("bad request line")
    method, uri = parts[0], parts[1]
    if not _is_token(method) or not method.isupper():
        raise SipParseError("bad method")
    if ":" not in uri:
        raise SipParseError("bad request URI")
    return SipMessage(method=method, uri=uri)


def parse_params(text: str) -> dict[str, str]:
    """`;a=1;b;c="x"` -> {"a": "1", "b": "", "c": "x"} (names lower-cased)."""
    params: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, _, value = part.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        params[name.strip().lower()] = value
    return params


@dataclass(frozen=True, slots=True, kw_only=True)
class SipUri:
    """sip:user@host:port;params (§19.1). `user` is percent-decoded."""

    scheme: str
    user: str
    host: str
    port: int | None
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> SipUri:
        text = text.strip()
        scheme, colon, rest = text.partition(":")
        scheme = scheme.lower()
        if not colon or scheme not in ("sip", "sips", "tel"):
            raise SipParseError(f"unsupported URI {text[:40]!r}")
        rest = rest.split("?", 1)[0]  # headers in URIs are never acted upon
        if scheme == "tel":
            number, _, params = rest.partition(";")
            return cls(scheme=scheme, user=unescaped(unquote(number)), host="", port=None,
                       params=parse_params(params))  # fmt: skip
        userinfo, at, hostpart = rest.rpartition("@")
        if not at:
            hostpart = rest
        user = unescaped(unquote(userinfo.split(":", 1)[0], errors="replace"))
        hostport, _, params = hostpart.partition(";")
        host, port = _split_hostport(hostport)
        return cls(scheme=scheme, user=user, host=host, port=port, params=parse_params(params))


def _split_hostport(hostport: str) -> tuple[str, int | None]:
    hostport = hostport.strip()
    if hostport.startswith("["):  # IPv6 reference
        end = hostport.find("]")
        if end < 0:
            raise SipParseError("bad IPv6 reference")
        host, rest = hostport[1:end], hostport[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = hostport.partition(":")
    if not host:
        raise SipParseError("missing host")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SipParseError("bad port")
        return host.lower(), int(port_text)
    return host.lower(), None


@dataclass(frozen=True, slots=True, kw_only=True)
class NameAddr:
    """A From/To/Contact/Route value: optional display name, URI text, parameters."""

    display: str
    uri: str
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        text = text.strip()
        lt = text.find("<")
        if lt >= 0:
            gt = text.find(">", lt)
            if gt < 0:
                raise SipParseError("unterminated <")
            display = text[:lt].strip().strip('"')
            return cls(display=display, uri=text[lt + 1 : gt].strip(),
                       params=parse_params(text[gt + 1 :]))  # fmt: skip
        # addr-spec form: parameters after the URI belong to the header (§20.10).
        uri, _, params = text.partition(";")
        return cls(display="", uri=uri.strip(), params=parse_params(params))

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def display_text(self) -> str:
        """The display name for people (see `readable`), quotes' escapes removed."""
        return readable(self.display.replace('\\"', '"'))

    def user(self) -> str:
        try:
            return SipUri.parse(self.uri).user
        except SipParseError:
            return ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Via:
    """SIP/2.0/UDP host:port;branch=...;rport (§20.42, RFC 3581)."""

    transport: str
    host: str
    port: int | None
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Via:
        proto, _, rest = text.strip().partition(" ")
        bits = proto.split("/")
        if len(bits) != 3 or bits[0].upper() != "SIP":
            raise SipParseError("bad Via protocol")
        sent_by, _, params = rest.strip().partition(";")
        host, port = _split_hostport(sent_by)
        return cls(transport=bits[2].upper(), host=host, port=port, params=parse_params(params))

    @property
    def branch(self) -> str:
        return self.params.get("branch", "")


class StreamFramer:
    """Splits a SIP byte stream (TCP) into messages by Content-Length (RFC 3261 §18.3).

    Raises `SipParseError` when the stream cannot be framed (no Content-Length
    value, a message over `max_size`); the connection must then be closed.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        messages: list[bytes] = []
        while True:
            while self._buffer[:2] == b"\r\n":  # keep-alive CRLFs between messages
                del self._buffer[:2]
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > self.max_size:
                    raise SipParseError("headers too long")
                return messages
            head = bytes(self._buffer[:end])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() in (b"content-length", b"l"):
                    text = value.strip()
                    if not text.isdigit() or len(text) > 9:
                        raise SipParseError("bad Content-Length")
                    length = int(text)
            total = end + 4 + length
            if total > self.max_size:
                raise SipParseError("message too large")
            if len(self._buffer) < total:
                return messages
            messages.append(bytes(self._buffer[:total]))
            del self._buffer[:total]
