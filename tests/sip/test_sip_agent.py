"""The sans-IO user agent: RFC 3261 server/client transactions, dialogs, timers, protection."""

from __future__ import annotations

import itertools

from pydantic import SecretStr

from dipflow.channels.sip.agent import SipUserAgent
from dipflow.channels.sip.events import (
    AgentRegistered,
    CallCancelled,
    CallConfirmed,
    CallTerminated,
    IncomingCall,
    OutgoingAnswered,
    OutgoingFailed,
    ReOffer,
)
from dipflow.channels.sip.message import SipMessage, parse_message
from dipflow.channels.sip.settings import SipSettings
from tests.sip.sip_helpers import PEER, cancel, in_dialog, invite, parse_all, to_tag_of

SDP = b"v=0\r\n"


def make_agent(**overrides: object) -> SipUserAgent:
    settings = SipSettings(port=5060, **overrides)  # type: ignore[arg-type]
    return SipUserAgent(settings, local_port=5060)


def sent(agent: SipUserAgent) -> list[SipMessage]:
    out = agent.take_outgoing()
    assert all(o.destination == PEER for o in out)
    return parse_all([o.data for o in out])


def start_call(agent: SipUserAgent, now: float = 0.0) -> tuple[str, str]:
    events = agent.receive_datagram(invite(), PEER, now)
    assert [type(e) for e in events] == [IncomingCall]
    trying = sent(agent)
    assert [m.status for m in trying] == [100]
    leg_id = events[0].leg_id  # type: ignore[union-attr]
    agent.answer(leg_id, SDP, now)
    (ok,) = sent(agent)
    assert ok.status == 200
    assert ok.body == SDP
    return leg_id, to_tag_of(ok)


def test_invite_gets_trying_then_ok_with_tag_contact_and_rport() -> None:
    agent = make_agent()
    events = agent.receive_datagram(invite(), PEER, 0.0)
    (call,) = events
    assert isinstance(call, IncomingCall)
    assert call.source == PEER
    (trying,) = sent(agent)
    via = trying.headers.get("Via") or ""
    assert "rport=5999" in via
    assert "received=127.0.0.1" in via
    agent.answer(call.leg_id, SDP, 0.0)
    (ok,) = sent(agent)
    assert ok.status == 200
    assert to_tag_of(ok)
    assert (ok.headers.get("Contact") or "").startswith("<sip:dipflow@127.0.0.1:5060")
    assert ok.cseq == (1, "INVITE")


def test_retransmitted_invite_is_answered_again_not_a_new_call() -> None:
    agent = make_agent()
    start_call(agent)
    assert agent.receive_datagram(invite(), PEER, 0.1) == []
    (again,) = sent(agent)
    assert again.status == 200


def test_ack_stops_2xx_retransmissions() -> None:
    agent = make_agent()
    leg_id, tag = start_call(agent)
    agent.handle_timer(0.5)  # T1: first retransmission
    assert [m.status for m in sent(agent)] == [200]
    events = agent.receive_datagram(in_dialog("ACK", to_tag=tag, cseq=1), PEER, 0.6)
    assert events == [CallConfirmed(leg_id=leg_id)]
    agent.handle_timer(40.0)
    assert sent(agent) == []


def test_lost_ack_retransmits_2xx_with_backoff_then_byes() -> None:
    agent = make_agent(amplification_factor=100)
    leg_id, _ = start_call(agent)
    times: list[float] = []
    terminated: list[object] = []
    now = 0.0
    while now < 40.0:
        deadline = agent.next_deadline()
        assert deadline is not None
        now = deadline
        terminated += agent.handle_timer(now)
        for message in sent(agent):
            if message.status == 200:
                times.append(now)
            elif message.method == "BYE":
                terminated.append("bye-sent")
        if "bye-sent" in terminated:
            break
    # T1, 2T1, 4T1, then capped at T2 = 4 s; gives up at 64*T1 = 32 s (§13.3.1.4).
    assert times[:4] == [0.5, 1.5, 3.5, 7.5]
    assert all(b - a <= 4.0 + 1e-9 for a, b in itertools.pairwise(times))
    assert terminated[0] == CallTerminated(leg_id=leg_id, reason="no-ack")
    assert now == 32.0


def test_cancel_before_answer_gets_200_and_487() -> None:
    agent = make_agent()
    (call,) = agent.receive_datagram(invite(), PEER, 0.0)
    sent(agent)
    events = agent.receive_datagram(cancel(), PEER, 0.2)
    assert events == [CallCancelled(leg_id=call.leg_id)]  # type: ignore[union-attr]
    responses = sent(agent)
    assert sorted((m.status, m.cseq[1]) for m in responses) == [(200, "CANCEL"), (487, "INVITE")]
    agent.answer(call.leg_id, SDP, 0.3)  # type: ignore[union-attr]  # too late: ignored
    assert sent(agent) == []
    # 487 is retransmitted (timer G) until the ACK with the INVITE's branch.
    agent.handle_timer(0.7)
    assert [m.status for m in sent(agent)] == [487]
    agent.receive_datagram(in_dialog("ACK", to_tag="x", branch="z9hG4bK-1", cseq=1), PEER, 0.8)
    agent.handle_timer(30.0)
    assert sent(agent) == []


def test_cancel_for_unknown_transaction_is_481() -> None:
    agent = make_agent()
    agent.receive_datagram(cancel(branch="z9hG4bK-nope"), PEER, 0.0)
    assert [m.status for m in sent(agent)] == [481]


def test_bye_from_caller_ends_the_call() -> None:
    agent = make_agent()
    leg_id, tag = start_call(agent)
    agent.receive_datagram(in_dialog("ACK", to_tag=tag, cseq=1), PEER, 0.1)
    events = agent.receive_datagram(in_dialog("BYE", to_tag=tag), PEER, 1.0)
    assert events == [CallTerminated(leg_id=leg_id, reason="bye")]
    assert [m.status for m in sent(agent)] == [200]
    # The retransmitted BYE is answered from the transaction, not a second event.
    assert agent.receive_datagram(in_dialog("BYE", to_tag=tag), PEER, 1.5) == []
    assert [m.status for m in sent(agent)] == [200]


def test_our_bye_uses_dialog_identifiers() -> None:
    agent = make_agent()
    leg_id, tag = start_call(agent)
    agent.receive_datagram(in_dialog("ACK", to_tag=tag, cseq=1), PEER, 0.1)
    agent.hangup(leg_id, 1.0)
    (bye,) = sent(agent)
    assert bye.method == "BYE"
    assert bye.uri == "sip:caller@127.0.0.1:5999"
    assert f"tag={tag}" in (bye.headers.get("From") or "")
    assert "tag=caller-tag" in (bye.headers.get("To") or "")
    assert bye.call_id == "call-1@test"
    agent.handle_timer(1.5)  # timer E retransmits until a response
    assert [m.method for m in sent(agent)] == ["BYE"]


def test_bye_before_ack_waits_for_the_ack() -> None:
    agent = make_agent()
    leg_id, tag = start_call(agent)
    agent.hangup(leg_id, 0.1)
    assert sent(agent) == []
    agent.receive_datagram(in_dialog("ACK", to_tag=tag, cseq=1), PEER, 0.2)
    assert [m.method for m in sent(agent)] == ["BYE"]


def test_bye_in_unknown_dialog_is_481_and_options_is_200() -> None:
    agent = make_agent()
    agent.receive_datagram(in_dialog("BYE", to_tag="unknown"), PEER, 0.0)
    assert [m.status for m in sent(agent)] == [481]
    options = invite().replace(b"INVITE sip", b"OPTIONS sip").replace(b"1 INVITE", b"1 OPTIONS")
    agent.receive_datagram(options, PEER, 0.0)
    (ok,) = sent(agent)
    assert ok.status == 200
    assert "INVITE" in (ok.headers.get("Allow") or "")


def test_reinvite_for_hold_is_offered_to_the_driver() -> None:
    agent = make_agent()
    leg_id, tag = start_call(agent)
    agent.receive_datagram(in_dialog("ACK", to_tag=tag, cseq=1), PEER, 0.1)
    reinvite = in_dialog("INVITE", to_tag=tag, branch="z9hG4bK-re").replace(
        b"Content-Length: 0\r\n\r\n", b"Content-Length: 4\r\n\r\nhold"
    )
    events = agent.receive_datagram(reinvite, PEER, 1.0)
    assert events == [ReOffer(leg_id=leg_id, body=b"hold")]
    agent.answer_reoffer(leg_id, b"answer", 1.0)
    (ok,) = sent(agent)
    assert (ok.status, ok.body) == (200, b"answer")


def test_unsupported_offer_can_be_rejected_with_488() -> None:
    agent = make_agent()
    (call,) = agent.receive_datagram(invite(), PEER, 0.0)
    sent(agent)
    agent.reject(call.leg_id, 488, 0.0)  # type: ignore[union-attr]
    assert [m.status for m in sent(agent)] == [488]


def test_garbage_is_never_answered_and_repeated_garbage_is_ignored() -> None:
    agent = make_agent(garbage_burst=3, garbage_rate_per_s=0.1)
    for _ in range(10):
        assert agent.receive_datagram(b"hello there\r\n\r\n", PEER, 0.0) == []
    assert agent.take_outgoing() == []
    assert agent.stats["penalised"] > 0
    # While penalised, even valid requests from that source are ignored.
    assert agent.receive_datagram(invite(), PEER, 1.0) == []
    # Other sources are unaffected.
    assert agent.receive_datagram(invite(port=6001), ("127.0.0.2", 6001), 1.0) != []


def test_oversized_messages_are_dropped() -> None:
    agent = make_agent()
    big = invite(extra="X-Padding: " + "a" * 9000 + "\r\n")
    assert agent.receive_datagram(big, PEER, 0.0) == []
    assert agent.take_outgoing() == []


def test_invite_flood_from_one_source_is_rate_limited() -> None:
    agent = make_agent(invite_burst=5, invite_rate_per_s=1.0)
    calls = 0
    for i in range(20):
        events = agent.receive_datagram(invite(branch=f"z9hG4bK-{i}", call_id=f"c{i}"), PEER, 0.0)
        calls += len(events)
    assert calls == 5


def test_unverified_source_never_gets_more_than_three_times_its_bytes() -> None:
    agent = make_agent(amplification_factor=3.0)
    received = len(invite())
    start_call(agent)
    total = 0
    for t in range(1, 200):
        agent.handle_timer(t * 0.25)
        total += sum(len(o.data) for o in agent.take_outgoing())
    # 100 + 200 already sent; the retransmissions are capped by the budget.
    assert total < 3 * received
    assert agent.stats["amplification_drops"] > 0


def _register(user: str, auth: str = "", branch: str = "z9hG4bK-reg") -> bytes:
    text = (
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch={branch};rport\r\n"
        f"From: <sip:{user}@127.0.0.1>;tag=r1\r\nTo: <sip:{user}@127.0.0.1>\r\n"
        "Call-ID: reg-1\r\nCSeq: " + ("2" if auth else "1") + " REGISTER\r\n"
        f"Contact: <sip:{user}@127.0.0.1:5999>\r\nExpires: 600\r\n{auth}"
        "Content-Length: 0\r\n\r\n"
    )
    return text.encode()


def test_register_with_digest_auth() -> None:
    import hashlib
    import re

    agent = make_agent(registrar_users={"alice": SecretStr("s3cret")})
    agent.receive_datagram(_register("alice"), PEER, 0.0)
    (challenge,) = sent(agent)
    assert challenge.status == 401
    www = challenge.headers.get("WWW-Authenticate") or ""
    nonce = re.search(r'nonce="([^"]+)"', www).group(1)  # type: ignore[union-attr]

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    def auth_header(password: str) -> str:
        ha1 = md5(f"alice:dipflow:{password}")
        ha2 = md5("REGISTER:sip:127.0.0.1")
        response = md5(f"{ha1}:{nonce}:00000001:abc:auth:{ha2}")
        return (
            f'Authorization: Digest username="alice", realm="dipflow", nonce="{nonce}", '
            f'uri="sip:127.0.0.1", response="{response}", algorithm=MD5, qop=auth, '
            'nc=00000001, cnonce="abc"\r\n'
        )

    agent.receive_datagram(_register("alice", auth_header("wrong"), "z9hG4bK-reg2"), PEER, 1.0)
    assert [m.status for m in sent(agent)] == [401]
    assert agent.registrar.lookup("alice", 1.0) is None
    events = agent.receive_datagram(
        _register("alice", auth_header("s3cret"), "z9hG4bK-reg3"), PEER, 1.0
    )
    assert [m.status for m in sent(agent)] == [200]
    assert isinstance(events[0], AgentRegistered)
    binding = agent.registrar.lookup("alice", 2.0)
    assert binding is not None
    assert binding.contact_uri == "sip:alice@127.0.0.1:5999"
    assert agent.registrar.lookup("alice", 700.0) is None  # expired


def _response_to(request: SipMessage, status: int, *, to_tag: str = "agent-tag") -> bytes:
    lines = [f"SIP/2.0 {status} X"]
    lines += [f"Via: {v}" for v in request.headers.get_all("Via")]
    lines.append(f"From: {request.headers.get('From')}")
    to = request.headers.get("To") or ""
    lines.append(f"To: {to};tag={to_tag}" if status > 100 else f"To: {to}")
    lines.append(f"Call-ID: {request.call_id}")
    lines.append(f"CSeq: {request.headers.get('CSeq')}")
    lines.append("Contact: <sip:agent@127.0.0.1:5999>")
    body = "answer" if 200 <= status < 300 else ""
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def test_outgoing_call_answered_is_acked_and_can_be_hung_up() -> None:
    agent = make_agent()
    leg_id = agent.invite(target_uri="sip:agent@127.0.0.1:5999", destination=PEER,
                          transport="udp", sdp=b"offer", now=0.0)  # fmt: skip
    (request,) = sent(agent)
    assert request.method == "INVITE"
    agent.handle_timer(0.5)  # timer A
    assert [m.method for m in sent(agent)] == ["INVITE"]
    agent.receive_datagram(_response_to(request, 180), PEER, 0.6)
    agent.handle_timer(1.5)
    assert sent(agent) == []  # no retransmission once proceeding
    events = agent.receive_datagram(_response_to(request, 200), PEER, 2.0)
    assert events == [OutgoingAnswered(leg_id=leg_id, body=b"answer")]
    (ack,) = sent(agent)
    assert ack.method == "ACK"
    assert ack.uri == "sip:agent@127.0.0.1:5999"
    # A retransmitted 200 is ACKed again.
    agent.receive_datagram(_response_to(request, 200), PEER, 2.5)
    assert [m.method for m in sent(agent)] == ["ACK"]
    agent.hangup(leg_id, 3.0)
    (bye,) = sent(agent)
    assert bye.method == "BYE"
    assert bye.cseq == (2, "BYE")


def test_outgoing_call_rejected_or_cancelled() -> None:
    agent = make_agent()
    leg_id = agent.invite(target_uri="sip:agent@127.0.0.1:5999", destination=PEER,
                          transport="udp", sdp=b"offer", now=0.0)  # fmt: skip
    (request,) = sent(agent)
    events = agent.receive_datagram(_response_to(request, 486), PEER, 0.1)
    assert events == [OutgoingFailed(leg_id=leg_id, status=486)]
    (ack,) = sent(agent)
    assert ack.method == "ACK"
    assert ack.cseq == (1, "ACK")

    ringing = agent.invite(target_uri="sip:agent@127.0.0.1:5999", destination=PEER,
                           transport="udp", sdp=b"offer", now=1.0)  # fmt: skip
    (request,) = sent(agent)
    agent.hangup(ringing, 1.1)  # before any provisional: CANCEL waits (§9.1)
    assert sent(agent) == []
    agent.receive_datagram(_response_to(request, 180), PEER, 1.2)
    (cancel_request,) = sent(agent)
    assert cancel_request.method == "CANCEL"
    assert Via_branch(cancel_request) == Via_branch(request)


def Via_branch(message: SipMessage) -> str:
    return message.top_via.branch


def test_outgoing_invite_times_out_with_408() -> None:
    agent = make_agent()
    leg_id = agent.invite(target_uri="sip:agent@127.0.0.1:5999", destination=PEER,
                          transport="udp", sdp=b"offer", now=0.0)  # fmt: skip
    events: list[object] = []
    while (deadline := agent.next_deadline()) is not None and deadline <= 40:
        events += agent.handle_timer(deadline)
    assert events == [OutgoingFailed(leg_id=leg_id, status=408)]
    retransmits = [m for m in sent(agent) if m.method == "INVITE"]
    assert len(retransmits) == 7  # initial + timer A at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5


def test_parse_round_trip() -> None:
    message = parse_message(invite())
    assert parse_message(message.to_bytes()).to_bytes() == message.to_bytes()
