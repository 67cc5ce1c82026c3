"""Building SIP messages for the user agent (RFC 3261 §8.1.1, §8.2.6, §12.2.1, §9.1).

Layer 4 (channels).

Pure functions of their inputs: the agent decides what to send, these decide how
it reads on the wire.
"""

from __future__ import annotations

from dipflow.channels.sip.events import Address
from dipflow.channels.sip.message import NameAddr, SipMessage, SipParseError, SipUri, Via
from dipflow.channels.sip.transactions import Leg

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, NOTIFY, PRACK, UPDATE"
MAGIC_COOKIE = "z9hG4bK"  # §8.1.1.7: branches of RFC 3261 agents start with it
WARN_INCOMPATIBLE_MEDIA = 305
"""Warning code of RFC 3261 §20.43: "Incompatible media format"."""
REASONS = {
    100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 202: "Accepted",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 407: "Proxy Authentication Required", 408: "Request Timeout",
    415: "Unsupported Media Type",
    420: "Bad Extension", 480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending", 500: "Server Internal Error",
    503: "Service Unavailable", 603: "Decline",
}  # fmt: skip


def contact_header(host: str, port: int, transport: str) -> str:
    return f"<sip:dipflow@{host}:{port};transport={transport}>"


def build_response(
    request: SipMessage,
    status: int,
    *,
    to_tag: str | None,
    server: str,
    contact: str | None = None,
    body: bytes = b"",
) -> SipMessage:
    """§8.2.6.2: Via, From, Call-ID and CSeq copied; To gets our tag (not on 100)."""
    response = SipMessage(status=status, reason=REASONS.get(status, "Unknown"))
    h = response.headers
    for via in request.headers.get_all("Via"):
        h.add("Via", via)
    h.add("From", request.headers.get("From") or "")
    to = request.headers.get("To") or ""
    if to_tag and status > 100 and NameAddr.parse(to).tag is None:
        to = f"{to};tag={to_tag}"
    h.add("To", to)
    h.add("Call-ID", request.call_id)
    h.add("CSeq", request.headers.get("CSeq") or "")
    if contact is not None:
        h.add("Contact", contact)
        h.add("Allow", ALLOW)
    h.add("Server", server)
    if body:
        h.add("Content-Type", "application/sdp")
        response.body = body
    return response


def stamp_received(response: SipMessage, source: Address) -> SipMessage:
    """RFC 3581 §4 and §18.2.1: the top Via says where the request really came from."""
    vias = response.headers.get_all("Via")
    if not vias:
        return response
    top = Via.parse(vias[0])
    value = vias[0]
    if "rport" in top.params and not top.params["rport"]:
        value = set_param(value, "rport", str(source[1]))
        value = set_param(value, "received", source[0])
    elif top.host != source[0]:
        value = set_param(value, "received", source[0])
    items = response.headers.items
    for i, (name, _) in enumerate(items):
        if name == "Via":
            items[i] = ("Via", value)
            break
    return response


def in_dialog_request(
    leg: Leg,
    method: str,
    *,
    cseq: int,
    host: str,
    port: int,
    transport: str,
    branch: str,
    user_agent: str,
) -> SipMessage:
    """§12.2.1.1: Request-URI = remote target, Route = route set, tags from the dialog;
    the Via names the transport of the next hop (`routing.next_hop`)."""
    request = SipMessage(method=method, uri=leg.remote_target)
    h = request.headers
    h.add("Via", f"SIP/2.0/{transport.upper()} {host}:{port};branch={branch};rport")
    h.add("Max-Forwards", "70")
    h.add("From", leg.local_party)
    h.add("To", leg.remote_party)
    h.add("Call-ID", leg.call_id)
    h.add("CSeq", f"{cseq} {method}")
    for route in leg.route_set:
        h.add("Route", route)
    h.add("User-Agent", user_agent)
    return request


def non_2xx_ack(invite: SipMessage, response: SipMessage) -> bytes:
    """§17.1.1.3: same branch, Request-URI, Call-ID, From; To from the response."""
    ack = SipMessage(method="ACK", uri=invite.uri)
    h = ack.headers
    h.add("Via", invite.headers.get_all("Via")[0])
    h.add("Max-Forwards", "70")
    h.add("From", invite.headers.get("From") or "")
    h.add("To", response.headers.get("To") or "")
    h.add("Call-ID", invite.call_id)
    h.add("CSeq", f"{invite.cseq[0]} ACK")
    return ack.to_bytes()


def cancel_request(invite: SipMessage) -> SipMessage:
    """§9.1: same Request-URI, Call-ID, From, To, CSeq number and branch as the INVITE."""
    cancel = SipMessage(method="CANCEL", uri=invite.uri)
    h = cancel.headers
    h.add("Via", invite.headers.get_all("Via")[0])
    h.add("Max-Forwards", "70")
    h.add("From", invite.headers.get("From") or "")
    h.add("To", invite.headers.get("To") or "")
    h.add("Call-ID", invite.call_id)
    h.add("CSeq", f"{invite.cseq[0]} CANCEL")
    return cancel


def set_param(via: str, name: str, value: str) -> str:
    """Set `;name=value` on a header value, replacing a valueless or existing one."""
    parts = via.split(";")
    out = [parts[0]]
    replaced = False
    for part in parts[1:]:
        if part.strip().split("=", 1)[0].lower() == name:
            out.append(f"{name}={value}")
            replaced = True
        else:
            out.append(part)
    if not replaced:
        out.append(f"{name}={value}")
    return ";".join(out)


def display_of(header_value: str | None) -> str:
    """The display name of a From/P-Asserted-Identity value, for people ("" when none)."""
    if not header_value:
        return ""
    try:
        return NameAddr.parse(header_value).display_text.strip()
    except SipParseError:
        return ""


def user_of(header_value: str | None) -> str:
    """The user part of a From/P-Asserted-Identity value ("" when there is none)."""
    if not header_value:
        return ""
    try:
        return SipUri.parse(NameAddr.parse(header_value).uri).user
    except SipParseError:
        return ""
