"""Where an in-dialog request goes (RFC 3261 §12.2.1.1, §18.2.2), and where a response
goes when its connection is gone. Layer 4 (channels).

In-dialog requests (our BYE, the ACK of an agent's 2xx) carry the remote target as their
Request-URI and the route set as Route headers; the next hop is:

* with a route set: its first entry (loose routing, `;lr`: every proxy of this decade);
* without one, for a call whose INVITE came straight from the phone (one Via): the flow
  it came on, i.e. the address its packets came from. That is what a phone behind a NAT
  can be reached at (its Contact names a private address), as the flows of RFC 5626 and
  every proxy's NAT handling do; over TCP, the connection it opened;
* without one, for a call that came through proxies which stayed out of the dialog (no
  Record-Route): the remote target itself, the caller's Contact. Sending it back to the
  proxy (as we used to) gets a 404 from it, and the caller sits in dead air;
* for our own INVITEs (agents' phones): the flow we sent the INVITE on (the registered
  binding, reached where its REGISTER came from).

Over TCP, a request that reuses a flow also names a fallback address, where a new
connection is opened if that one has been closed (a proxy closes idle connections:
kamailio after 120 s by default). Responses fall back as §18.2.2 says: the request's
source IP, the port of its Via's sent-by (5060 if none). No DNS: a host that is not an IP
address cannot be a fallback (the flow is used, and the failure logged if it is gone).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from dipflow.channels.sip.events import Address
from dipflow.channels.sip.message import NameAddr, SipMessage, SipParseError, SipUri
from dipflow.channels.sip.transactions import Leg

DEFAULT_PORT = 5060


@dataclass(frozen=True, slots=True)
class NextHop:
    destination: Address
    """Where to send (over TCP: the connection to that address, if one is open)."""
    transport: str
    fallback: Address | None = None
    """TCP: where to open a connection when none to `destination` is open."""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _uri_hop(uri_text: str) -> tuple[Address, str] | None:
    """(host, port) and transport of a SIP URI, or None (unparseable, or a name: no DNS)."""
    try:
        uri = SipUri.parse(NameAddr.parse(uri_text).uri)
    except SipParseError:
        return None
    if not _is_ip(uri.host):
        return None
    transport = uri.params.get("transport", "udp").lower()
    return (uri.host, uri.port or DEFAULT_PORT), "tcp" if transport == "tcp" else "udp"


def came_straight(invite: SipMessage) -> bool:
    """Whether a request came from the phone itself (one Via), not through a proxy."""
    return len(invite.headers.get_all("Via")) <= 1


def next_hop(leg: Leg) -> NextHop:
    """Where an in-dialog request of `leg` goes (see the module)."""
    if leg.route_set:
        routed = _uri_hop(leg.route_set[0])
        if routed is not None:
            hop, transport = routed
            if transport == "tcp" and leg.transport == "tcp" and leg.peer[0] == hop[0]:
                return NextHop(leg.peer, "tcp", fallback=hop)  # the proxy's open connection
            return NextHop(hop, transport)
        return NextHop(leg.peer, leg.transport)  # a route we cannot resolve: the flow
    target = _uri_hop(leg.remote_target)
    if not leg.uas or came_straight(leg.invite) or target is None:
        fallback = target[0] if target is not None and leg.transport == "tcp" else None
        return NextHop(leg.peer, leg.transport, fallback=fallback)
    hop, transport = target
    return NextHop(hop, transport)


def response_fallback(request: SipMessage, source: Address) -> Address:
    """§18.2.2: where to connect for a response whose request's connection has closed."""
    try:
        port = request.top_via.port
    except SipParseError:
        port = None
    return (source[0], port or DEFAULT_PORT)
