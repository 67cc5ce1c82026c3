"""The user agent's client side beyond agent legs: requests of our own, calls through trunks.

Layer 4 (channels). `RequestSide` sits between `ClientSide` (client.py) and
`SipUserAgent` (agent.py); still sans-IO. It adds:

* `send_request` / `send_in_dialog`: a non-INVITE request (REGISTER, OPTIONS, REFER)
  whose final response (or timeout, as 408) comes back as `RequestDone(request_id)`;
* `call_out`: an INVITE with the From, P-Asserted-Identity and local address a trunk
  wants, answering 401/407 challenges with a digest account (RFC 3261 §22.2: same
  Call-ID and From tag, CSeq + 1, a new branch);
* NOTIFY inside a dialog (the progress of a REFER we sent, RFC 3515 §2.4.4) as `Notified`;
* the TLS port in Via and Contact of TLS legs, and a per-leg advertised host (a trunk's
  public address behind NAT).
"""

from __future__ import annotations

from collections.abc import Sequence

from dipflow.channels.sip.builders import (
    ALLOW,
    MAGIC_COOKIE,
    build_response,
    contact_header,
    in_dialog_request,
)
from dipflow.channels.sip.client import ClientSide, _display_name, _sip_user
from dipflow.channels.sip.core import Transaction, new_token
from dipflow.channels.sip.digest_client import DigestAccount, DigestSession
from dipflow.channels.sip.events import Address, Notified, RequestDone
from dipflow.channels.sip.message import SipMessage, parse_params
from dipflow.channels.sip.routing import next_hop
from dipflow.channels.sip.settings import SipSettings
from dipflow.channels.sip.transactions import (
    ClientKey,
    ClientTransaction,
    Leg,
    LegState,
    ServerTransaction,
)
from dipflow.channels.sip.transitions import TxAction

Headers = Sequence[tuple[str, str]]


class RequestSide(ClientSide):
    """Requests of our own and trunk calls (see the module docstring)."""

    def __init__(self, settings: SipSettings, *, local_port: int) -> None:
        super().__init__(settings, local_port=local_port)
        self.tls_port: int | None = None
        """Where our TLS listener is (Via and Contact of TLS legs); None: no TLS listener."""
        self._owners: dict[ClientKey, str] = {}
        self._leg_auth: dict[str, DigestSession] = {}
        self._leg_host: dict[str, str] = {}
        self._call_host: dict[str, str] = {}

    def local_port(self, transport: str) -> int:
        return self.tls_port if transport == "tls" and self.tls_port else self.port

    def set_call_host(self, call_id: str, host: str) -> None:
        """Advertise `host` (a trunk's public address) in our Contact on call `call_id`."""
        self._call_host[call_id] = host

    # -- requests of our own -----------------------------------------------------------

    def send_request(
        self,
        *,
        method: str,
        uri: str,
        headers: Headers,
        destination: Address,
        transport: str,
        now: float,
        body: bytes = b"",
        content_type: str | None = None,
        local_host: str | None = None,
    ) -> str:
        """Send an out-of-dialog non-INVITE request; `headers` give From, To, Call-ID, CSeq
        (and Contact, Authorization...). Returns its id for `RequestDone`."""
        self._now = now
        request = SipMessage(method=method, uri=uri)
        h = request.headers
        host = local_host or self.host
        h.add("Via", f"SIP/2.0/{transport.upper()} {host}:{self.local_port(transport)}"
                     f";branch={MAGIC_COOKIE}{new_token()};rport")  # fmt: skip
        h.add("Max-Forwards", "70")
        for name, value in headers:
            h.add(name, value)
        h.add("User-Agent", self.settings.user_agent)
        if body:
            h.add("Content-Type", content_type or "application/sdp")
            request.body = body
        return self._start_owned(request, destination, transport, now)

    def send_in_dialog(
        self,
        leg_id: str,
        method: str,
        now: float,
        *,
        headers: Headers = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> str | None:
        """A request inside leg `leg_id`'s dialog (REFER, OPTIONS...); None: no such dialog."""
        leg = self.legs.get(leg_id)
        if leg is None or leg.state is not LegState.CONFIRMED:
            return None
        self._now = now
        hop = next_hop(leg)
        request = self._in_dialog_request(leg, method, transport=hop.transport)
        for name, value in headers:
            request.headers.add(name, value)
        if body:
            request.headers.add("Content-Type", content_type or "application/sdp")
            request.body = body
        return self._start_owned(request, hop.destination, hop.transport, now, hop.fallback)

    def _start_owned(
        self,
        request: SipMessage,
        destination: Address,
        transport: str,
        now: float,
        fallback: Address | None = None,
    ) -> str:
        request_id = new_token()
        branch = request.top_via.branch
        self._owners[(branch, request.method or "")] = request_id
        self.guard.verify(destination[0])  # we chose this destination
        self._start_client_tx(request, destination, transport, None, now, fallback)
        return request_id

    def challenge(self, leg_id: str, proxy_authenticate: str, now: float) -> None:
        """Refuse a new INVITE with 407 and our digest challenge (the caller retries
        with credentials as a new INVITE, §22.3)."""
        leg = self.legs.get(leg_id)
        if leg is None or not leg.uas or leg.state is not LegState.EARLY:
            return
        tx = self._invite_tx(leg)
        if tx is not None:
            response = self._response(leg.invite, 407, to_tag=leg.local_tag)
            response.headers.add("Proxy-Authenticate", proxy_authenticate)
            self._respond_tx(tx, response, now)
        self._end_leg(leg)

    # -- calls through trunks ----------------------------------------------------------

    def call_out(
        self,
        *,
        target_uri: str,
        destination: Address,
        transport: str,
        sdp: bytes,
        now: float,
        from_user: str,
        from_host: str | None = None,
        display: str = "",
        headers: Headers = (),
        auth: DigestAccount | None = None,
        local_host: str | None = None,
    ) -> str:
        """Place a call; returns its leg id (watch for Outgoing* events). `from_user` is
        escaped (it may come from caller data); `auth` answers 401/407 once per kind."""
        self._now = now
        host = local_host or self.host
        leg_id = new_token()
        call_id = f"{new_token(12)}@{host}"
        local_tag = new_token(6)
        name = f'"{_display_name(display)}" ' if display else ""
        local_party = f"{name}<sip:{_sip_user(from_user)}@{from_host or host}>;tag={local_tag}"
        request = SipMessage(method="INVITE", uri=target_uri)
        h = request.headers
        h.add("Via", f"SIP/2.0/{transport.upper()} {host}:{self.local_port(transport)}"
                     f";branch={MAGIC_COOKIE}{new_token()};rport")  # fmt: skip
        h.add("Max-Forwards", "70")
        h.add("From", local_party)
        h.add("To", f"<{target_uri}>")
        h.add("Call-ID", call_id)
        h.add("CSeq", "1 INVITE")
        h.add("Contact", contact_header(host, self.local_port(transport), transport))
        h.add("Allow", ALLOW)
        for header, value in headers:
            h.add(header, value)
        h.add("User-Agent", self.settings.user_agent)
        h.add("Content-Type", "application/sdp")
        request.body = sdp
        leg = Leg(
            leg_id=leg_id, uas=False, call_id=call_id, local_tag=local_tag, remote_tag=None,
            local_party=local_party, remote_party=f"<{target_uri}>", remote_target=target_uri,
            route_set=[], peer=destination, transport=transport, invite=request,
        )  # fmt: skip
        self.legs[leg_id] = leg
        if auth is not None:
            self._leg_auth[leg_id] = DigestSession(auth)
        if local_host is not None:
            self._leg_host[leg_id] = local_host
            self._call_host[call_id] = local_host
        self.guard.verify(destination[0])
        self._start_client_tx(request, destination, transport, leg_id, now)
        return leg_id

    def _retry_invite(self, leg: Leg, header: tuple[str, str], now: float) -> None:
        """§22.2: the INVITE again with credentials, CSeq + 1, a new branch."""
        old = leg.invite
        retry = SipMessage(method="INVITE", uri=old.uri, headers=old.headers.copy(),
                           body=old.body)  # fmt: skip
        via = old.headers.get_all("Via")[0]
        sent_by = via.split(";", 1)[0]
        retry.headers.set("Via", f"{sent_by};branch={MAGIC_COOKIE}{new_token()};rport")
        leg.local_cseq += 1
        _replace_in_place(retry, "CSeq", f"{leg.local_cseq} INVITE")
        retry.headers.set(header[0], header[1])
        leg.invite = retry
        leg.provisional_seen = False
        self._start_client_tx(retry, leg.peer, leg.transport, leg.leg_id, now)

    # -- hooks into the core -------------------------------------------------------------

    def _contact(self, transport: str) -> str:
        return contact_header(self.host, self.local_port(transport), transport)

    def _response(
        self,
        request: SipMessage,
        status: int,
        *,
        to_tag: str | None = None,
        contact: bool = False,
        body: bytes = b"",
    ) -> SipMessage:
        transport = request.top_via.transport.lower()
        host = self._call_host.get(request.call_id, self.host)
        return build_response(
            request, status, to_tag=to_tag, server=self.settings.user_agent, body=body,
            contact=contact_header(host, self.local_port(transport), transport)
            if contact else None,
        )  # fmt: skip

    def _in_dialog_request(
        self, leg: Leg, method: str, *, transport: str, cseq: int | None = None
    ) -> SipMessage:
        if cseq is None:
            leg.local_cseq += 1
            cseq = leg.local_cseq
        return in_dialog_request(
            leg, method, cseq=cseq, host=self._leg_host.get(leg.leg_id, self.host),
            port=self.local_port(transport), transport=transport,
            branch=MAGIC_COOKIE + new_token(), user_agent=self.settings.user_agent,
        )  # fmt: skip

    def _response_to_tu(self, tx: ClientTransaction, response: SipMessage) -> None:
        status = response.status or 0
        owner = self._owners.get(tx.key)
        if owner is not None and not tx.is_invite:
            if status >= 200:  # once: retransmitted finals are absorbed by the transaction
                del self._owners[tx.key]
                self._events.append(RequestDone(request_id=owner, status=status,
                                                response=response))  # fmt: skip
            return
        if tx.is_invite and status in (401, 407):
            leg = self.legs.get(tx.leg_id or "")
            session = self._leg_auth.get(tx.leg_id or "")
            if (
                leg is not None and session is not None and leg.state is LegState.EARLY
                and not leg.cancel_pending
            ):  # fmt: skip
                header = session.authorize(leg.invite, response)
                if header is not None:
                    self._retry_invite(leg, header, self._now)
                    return
        super()._response_to_tu(tx, response)

    def _act(self, tx: Transaction, action: TxAction, message: SipMessage | None) -> None:
        if action is TxAction.TIMEOUT_TO_TU and isinstance(tx, ClientTransaction):
            owner = self._owners.pop(tx.key, None)
            if owner is not None:
                self._events.append(RequestDone(request_id=owner, status=408, response=None))
                return
        super()._act(tx, action, message)

    def _end_leg(self, leg: Leg) -> None:
        super()._end_leg(leg)
        self._leg_auth.pop(leg.leg_id, None)
        self._leg_host.pop(leg.leg_id, None)
        self._call_host.pop(leg.call_id, None)

    def _other_in_dialog(
        self, leg: Leg, tx: ServerTransaction, request: SipMessage, now: float
    ) -> None:
        """In-dialog requests agent.py does not handle: NOTIFY (REFER progress), else 405."""
        if request.method == "NOTIFY":
            self._respond_tx(tx, self._response(request, 200), now)
            state = parse_params(";" + (request.headers.get("Subscription-State") or ""))
            event = (request.headers.get("Event") or "").split(";", 1)[0].strip().lower()
            self._events.append(
                Notified(
                    leg_id=leg.leg_id, event=event, body=request.body,
                    terminated="terminated" in state,
                )
            )  # fmt: skip
            return
        response = self._response(request, 405)
        response.headers.add("Allow", ALLOW)
        self._respond_tx(tx, response, now)


def _replace_in_place(message: SipMessage, name: str, value: str) -> None:
    """Set a header keeping its position (CSeq stays where the INVITE had it)."""
    items = message.headers.items
    for i, (key, _) in enumerate(items):
        if key.lower() == name.lower():
            items[i] = (key, value)
            return
    items.append((name, value))
