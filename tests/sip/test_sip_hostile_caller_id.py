"""A hostile caller ID (the percent-decoded user of the caller's From) never adds headers
to the INVITE that rings the agent: it is escaped back into the From URI."""

from __future__ import annotations

import pytest

from dipflow.channels.sip.agent import SipUserAgent
from dipflow.channels.sip.builders import user_of
from dipflow.channels.sip.events import IncomingCall
from dipflow.channels.sip.message import parse_message
from dipflow.channels.sip.settings import SipSettings
from tests.sip.sip_helpers import OFFER, invite

AGENT = ("127.0.0.1", 6000)


def _agent_invite(caller_user: str, caller_name: str = "dipflow") -> bytes:
    ua = SipUserAgent(SipSettings(port=5060), local_port=5060)
    ua.invite(
        target_uri="sip:agent@127.0.0.1:6000",
        destination=AGENT,
        transport="udp",
        sdp=OFFER.encode(),
        now=1.0,
        caller_user=caller_user,
        caller_name=caller_name,
    )
    return next(out.data for out in ua.take_outgoing() if out.destination == AGENT)


@pytest.mark.parametrize(
    "from_user",
    [
        "%0d%0aX-Injected%3a%20yes%0d%0a",
        "1%0d%0a%0d%0av=0%0d%0ac=IN%20IP4%20203.0.113.9",
        "%3e%3btag=x%2c%20%3csip%3aother@evil",
        "+14155550123%0aX-Injected%3a1",
    ],
)
def test_caller_id_from_the_caller_cannot_add_headers_to_the_agent_invite(
    from_user: str,
) -> None:
    ua = SipUserAgent(SipSettings(port=5060), local_port=5060)
    events = ua.receive_datagram(invite(user=from_user), ("127.0.0.1", 5999), 0.0)
    incoming = next(e for e in events if isinstance(e, IncomingCall))
    ani = user_of(incoming.request.headers.get("From"))
    assert any(c in ani for c in "\r\n>")  # hostile once decoded

    sent = parse_message(_agent_invite(ani))
    assert sent.headers.get("X-Injected") is None
    assert sent.body.startswith(b"v=0\r\no=")  # our SDP, not one the caller wrote
    assert user_of(sent.headers.get("From")) == ani  # the agent still sees the number
    assert len(sent.headers.get_all("From")) == 1


def test_display_name_cannot_break_out_of_its_quotes() -> None:
    sent = parse_message(_agent_invite("+14155550123", caller_name='a"b\r\nX-Injected: 1'))
    assert sent.headers.get("X-Injected") is None
    assert (sent.headers.get("From") or "").startswith('"a b  X-Injected: 1" <sip:+14155550123@')
