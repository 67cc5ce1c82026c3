"""The UAC side of the user agent: placing agent legs (RFC 3261 §17.1, §13.2, §9.1).

Layer 4 (channels). The client transactions themselves move by `transitions.py`; this
module is their TU: what a response to our INVITE means for the agent's leg.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from urllib.parse import quote

from dipflow.channels.sip.builders import (
    ALLOW,
    MAGIC_COOKIE,
    cancel_request,
)
from dipflow.channels.sip.core import AgentCore, new_token
from dipflow.channels.sip.events import (
    Address,
    OutgoingAnswered,
    OutgoingFailed,
    OutgoingProgress,
)
from dipflow.channels.sip.message import (
    NameAddr,
    SipMessage,
)
from dipflow.channels.sip.routing import next_hop
from dipflow.channels.sip.transactions import (
    ClientTransaction,
    Leg,
    LegState,
)
from dipflow.channels.sip.transitions import response_input

# RFC 3261 §25.1 `user`: unreserved characters as they are, everything else escaped. The
# caller's number is the percent-decoded user of an untrusted From header: written back
# raw, a CR LF in it would add headers (or a body) to the INVITE sent to the agent.
_USER_SAFE = "-_.!~*'()+"
_NAME_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\]')


def _sip_user(user: str) -> str:
    return quote(user, safe=_USER_SAFE) or "anonymous"


def _display_name(name: str) -> str:
    """The content of a quoted-string display name (§25.1), without quotes or controls."""
    return _NAME_UNSAFE.sub(" ", name)


class ClientSide(AgentCore):
    """INVITE client transactions, ACK, CANCEL; responses to our requests."""

    def invite(
        self,
        *,
        target_uri: str,
        destination: Address,
        transport: str,
        sdp: bytes,
        now: float,
        caller_user: str = "dipflow",
        caller_name: str = "dipflow",
    ) -> str:
        """Place a call (an agent leg). Returns its leg id; watch for Outgoing* events."""
        self._now = now
        leg_id = new_token()
        call_id = f"{new_token(12)}@{self.host}"
        local_tag = new_token(6)
        local_party = (
            f'"{_display_name(caller_name)}" <sip:{_sip_user(caller_user)}@{self.host}>'
            f";tag={local_tag}"
        )
        remote_party = f"<{target_uri}>"
        request = SipMessage(method="INVITE", uri=target_uri)
        branch = MAGIC_COOKIE + new_token()
        h = request.headers
        h.add("Via", f"SIP/2.0/{transport.upper()} {self.host}:{self.port};branch={branch};rport")
        h.add("Max-Forwards", "70")
        h.add("From", local_party)
        h.add("To", remote_party)
        h.add("Call-ID", call_id)
        h.add("CSeq", "1 INVITE")
        h.add("Contact", self._contact(transport))
        h.add("Allow", ALLOW)
        h.add("User-Agent", self.settings.user_agent)
        h.add("Content-Type", "application/sdp")
        request.body = sdp
        leg = Leg(
            leg_id=leg_id, uas=False, call_id=call_id, local_tag=local_tag, remote_tag=None,
            local_party=local_party, remote_party=remote_party, remote_target=target_uri,
            route_set=[], peer=destination, transport=transport, invite=request,
        )  # fmt: skip
        self.legs[leg_id] = leg
        self.counts["calls_outbound"] += 1
        self.guard.verify(destination[0])  # we chose this destination
        self._start_client_tx(request, destination, transport, leg_id, now)
        return leg_id

    def _on_response(self, response: SipMessage, source: Address, now: float) -> None:
        via = response.top_via
        _number, method = response.cseq
        tx = self._client_tx.get((via.branch, method))
        status = response.status or 0
        if tx is None:
            if method == "INVITE" and 200 <= status < 300:
                self._stray_2xx(response)
            return
        self.guard.verify(source[0])
        self.step_tx(tx, response_input(status), response)

    def _response_to_tu(self, tx: ClientTransaction, response: SipMessage) -> None:
        leg = self.legs.get(tx.leg_id or "")
        if leg is not None and leg.uas:  # our session refresh on a caller's dialog
            self._refresh_response(leg, tx, response)
            return
        if not tx.is_invite:
            return  # nothing waits for the answer to our BYE or CANCEL
        status = response.status or 0
        now = self._now
        if status < 200:
            if leg is not None and leg.state is LegState.EARLY:
                leg.provisional_seen = True
                self._events.append(
                    OutgoingProgress(leg_id=leg.leg_id, status=status, body=response.body)
                )
                if leg.cancel_pending:
                    self._send_cancel(leg, now)
        elif status < 300:
            if leg is not None and leg.state is LegState.EARLY:
                self._confirm_uac_leg(leg, response, now)
            else:
                self._stray_2xx(response)  # a retransmission of the 2xx: ACK it again
        elif leg is not None and leg.state is not LegState.TERMINATED:
            self.failures["outbound", status] += 1
            self._end_leg(leg)
            self._events.append(OutgoingFailed(leg_id=leg.leg_id, status=status))

    def _confirm_uac_leg(self, leg: Leg, response: SipMessage, now: float) -> None:
        to_tag = NameAddr.parse(response.headers.get("To") or "").tag or ""
        leg.remote_tag = to_tag
        leg.remote_party = f"{leg.remote_party};tag={to_tag}"
        contact = response.headers.get("Contact")
        if contact:
            leg.remote_target = NameAddr.parse(contact).uri
        leg.route_set = list(reversed(response.headers.get_all("Record-Route")))  # §12.1.2
        leg.state = LegState.CONFIRMED
        self._dialogs[(leg.call_id, leg.local_tag, to_tag)] = leg.leg_id
        hop = next_hop(leg)
        ack = self._in_dialog_request(leg, "ACK", transport=hop.transport, cseq=leg.local_cseq)
        leg.ack = ack.to_bytes()
        self._send(leg.ack, hop.destination, hop.transport, hop.fallback)
        if leg.cancel_pending:  # we gave up while it was being answered: end it (§9.1)
            self._send_bye(leg, now)
            return
        self._events.append(OutgoingAnswered(leg_id=leg.leg_id, body=response.body))

    @abstractmethod
    def _refresh_response(self, leg: Leg, tx: ClientTransaction, response: SipMessage) -> None:
        """The answer to our session refresh (extensions.py)."""

    def _stray_2xx(self, response: SipMessage) -> None:
        """A retransmitted 2xx after our INVITE transaction ended: ACK again (§13.2.2.4)."""
        from_tag = NameAddr.parse(response.headers.get("From") or "").tag or ""
        to_tag = NameAddr.parse(response.headers.get("To") or "").tag or ""
        leg_id = self._dialogs.get((response.call_id, from_tag, to_tag))
        leg = self.legs.get(leg_id) if leg_id else None
        if leg is not None and leg.ack is not None:
            hop = next_hop(leg)
            self._send(leg.ack, hop.destination, hop.transport, hop.fallback)

    def _send_cancel(self, leg: Leg, now: float) -> None:
        """§9.1: same Request-URI, Call-ID, From, To, CSeq number and branch as the INVITE."""
        cancel = cancel_request(leg.invite)
        leg.cancel_pending = True  # a 2xx racing the CANCEL is ACKed and BYEd
        self._start_client_tx(cancel, leg.peer, leg.transport, None, now)
