"""Where in-dialog requests go (issue 12.6) and TCP connections opened when none is there
(issue 12.5). With kamailio, for real, in tests/interop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from dipflow.channels.sip.events import Outgoing
from dipflow.channels.sip.message import parse_message
from dipflow.channels.sip.routing import NextHop, next_hop, response_fallback
from dipflow.channels.sip.transactions import Leg
from dipflow.channels.sip.transport import SipTransports
from tests.sip.sip_helpers import invite

PHONE_CONTACT = "sip:caller@192.0.2.50:5070"
PROXY = ("198.51.100.1", 5060)


def _leg(*, vias: int = 1, route_set: tuple[str, ...] = (), transport: str = "udp",
         uas: bool = True, contact: str = PHONE_CONTACT,
         peer: tuple[str, int] = ("203.0.113.9", 40123)) -> Leg:  # fmt: skip
    request = parse_message(invite())
    for n in range(vias - 1):
        request.headers.add("Via", f"SIP/2.0/UDP 10.0.0.{n + 1}:5060;branch=z9hG4bK-p{n}")
    return Leg(
        leg_id="l1", uas=uas, call_id="c", local_tag="a", remote_tag="b", local_party="x",
        remote_party="y", remote_target=contact, route_set=list(route_set), peer=peer,
        transport=transport, invite=request, invite_tx=None,
    )  # fmt: skip


def test_a_call_straight_from_a_phone_is_answered_on_its_flow() -> None:
    """Behind a NAT its Contact is private: the flow is the only way back."""
    assert next_hop(_leg()) == NextHop(("203.0.113.9", 40123), "udp")
    over_tcp = next_hop(_leg(transport="tcp"))
    assert over_tcp == NextHop(("203.0.113.9", 40123), "tcp", fallback=("192.0.2.50", 5070))


def test_through_a_proxy_that_did_not_record_route_requests_go_to_the_contact() -> None:
    assert next_hop(_leg(vias=2, peer=PROXY)) == NextHop(("192.0.2.50", 5070), "udp")
    tcp_contact = "<sip:caller@192.0.2.50:5070;transport=tcp>"
    assert next_hop(_leg(vias=3, peer=PROXY, contact=tcp_contact)).transport == "tcp"
    # A Contact naming a host (no DNS here) leaves only the flow.
    named = next_hop(_leg(vias=2, peer=PROXY, contact="sip:caller@phone.example"))
    assert named.destination == PROXY


def test_a_route_set_sends_to_its_first_proxy_reusing_an_open_connection() -> None:
    routes = ("<sip:198.51.100.1;lr>", "<sip:198.51.100.2;lr>")
    assert next_hop(_leg(vias=2, route_set=routes, peer=PROXY)) == NextHop(PROXY, "udp")
    tcp = ("<sip:198.51.100.1:5080;transport=tcp;lr>",)
    from_proxy = ("198.51.100.1", 51000)  # the proxy's connection, from an ephemeral port
    hop = next_hop(_leg(vias=2, route_set=tcp, transport="tcp", peer=from_proxy))
    assert hop == NextHop(from_proxy, "tcp", fallback=("198.51.100.1", 5080))


def test_our_own_invites_keep_to_the_flow_we_placed_them_on() -> None:
    agent = _leg(uas=False, peer=("203.0.113.20", 5062), contact="sip:agent1@10.1.1.1:5062")
    assert next_hop(agent) == NextHop(("203.0.113.20", 5062), "udp")


def test_a_response_falls_back_to_the_via_sent_by_port() -> None:
    request = parse_message(invite(port=5999))
    assert response_fallback(request, ("127.0.0.1", 43210)) == ("127.0.0.1", 5999)


class _Server:
    def __init__(self) -> None:
        self.received = bytearray()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.received += await reader.read(4096)
        writer.close()


async def test_tcp_with_no_connection_opens_one_to_the_fallback() -> None:
    peer = _Server()
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transports = SipTransports(lambda *_: None, max_message_bytes=8192)
    try:
        gone = ("127.0.0.1", 1)  # the flow's connection, closed meanwhile
        transports.send(Outgoing(data=b"BYE 1", destination=gone, transport="tcp",
                                 fallback=("127.0.0.1", port)))  # fmt: skip
        async with asyncio.timeout(5):
            while not peer.received:  # noqa: ASYNC110 - the peer's handler fills it
                await asyncio.sleep(0.05)
        assert bytes(peer.received) == b"BYE 1"
    finally:
        await transports.close()
        server.close()
        await server.wait_closed()


async def test_a_message_that_cannot_be_sent_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    transports = SipTransports(lambda *_: None, max_message_bytes=8192)
    with caplog.at_level(logging.WARNING, logger="dipflow.channels.sip.transport"):
        transports.send(Outgoing(data=b"BYE", destination=("127.0.0.1", 1), transport="tcp"))
        async with asyncio.timeout(6):
            while not caplog.records:  # noqa: ASYNC110 - the connect task logs
                await asyncio.sleep(0.05)
    await transports.close()
    assert "cannot connect to 127.0.0.1:1" in caplog.text
    assert "1 message(s) not sent" in caplog.text
