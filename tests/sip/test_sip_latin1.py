"""Non-UTF-8 display names (RFC 3261 §7.3.1 says UTF-8; phones send Latin-1): the INVITE
is a call, its headers go back byte for byte, and people read the name as written."""

from __future__ import annotations

from dipflow.channels.sip.agent import SipUserAgent
from dipflow.channels.sip.builders import display_of
from dipflow.channels.sip.events import IncomingCall
from dipflow.channels.sip.message import NameAddr, parse_message, readable
from dipflow.channels.sip.settings import SipSettings
from tests.sip.sip_helpers import PEER, invite


def _latin1_invite() -> bytes:
    return invite().replace(b'"Caller"', '"Jos\xe9 N\xfa\xf1ez"'.encode("latin-1"))


def test_a_latin1_display_name_is_a_call_and_is_echoed_byte_for_byte() -> None:
    ua = SipUserAgent(SipSettings(port=5060), local_port=5060)
    events = ua.receive_datagram(_latin1_invite(), PEER, 1.0)
    (event,) = events
    assert isinstance(event, IncomingCall)
    assert ua.stats["garbage"] == 0
    (trying,) = [out.data for out in ua.take_outgoing()]
    assert trying.startswith(b"SIP/2.0 100 Trying")
    assert b'From: "Jos\xe9 N\xfa\xf1ez" <sip:+15551234567@127.0.0.1>;tag=caller-tag' in trying
    assert display_of(event.request.headers.get("From")) == "José Núñez"


def test_readable_keeps_utf8_and_reads_stray_bytes_as_latin1() -> None:
    mixed = "Zoë ".encode() + b"M\xfcller\r\n"
    header = parse_message(invite().replace(b'"Caller"', b'"' + mixed.strip() + b'"')).headers
    assert NameAddr.parse(header.get("From") or "").display_text == "Zoë Müller"
    assert readable("a\x00b\x7fc") == "a b c"  # control characters never reach a display
