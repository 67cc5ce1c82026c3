"""100rel (RFC 3262) and session timers (RFC 4028) on the sans-IO user agent, on a fake
clock: what is sent, when, and what ends the call. (sipp drives the same over the wire in
test_sip_extensions_sipp.py.)"""

from __future__ import annotations

from dipflow.channels.sip.agent import SipUserAgent
from dipflow.channels.sip.events import CallTerminated, IncomingCall
from dipflow.channels.sip.message import SipMessage, parse_message
from dipflow.channels.sip.settings import SipSettings
from dipflow.channels.sip.timers import SipTimer
from tests.sip.sip_helpers import OFFER, PEER, invite, to_tag_of

SDP = b"v=0\r\no=dipflow 1 1 IN IP4 127.0.0.1\r\n"


def make_agent(**overrides: object) -> SipUserAgent:
    return SipUserAgent(SipSettings(port=5060, **overrides), local_port=5060)  # type: ignore[arg-type]


def sent(agent: SipUserAgent) -> list[SipMessage]:
    return [parse_message(o.data) for o in agent.take_outgoing()]


def request(
    method: str, *, to_tag: str, cseq: int, extra: str = "", body: str = "", branch: str = ""
) -> bytes:
    """An in-dialog request from the caller of `invite()`."""
    return (
        f"{method} sip:dipflow@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{branch or method}-{cseq};rport\r\n"
        'From: "Caller" <sip:+15551234567@127.0.0.1>;tag=caller-tag\r\n'
        f"To: <sip:1000@127.0.0.1>;tag={to_tag}\r\nCall-ID: call-1@test\r\n"
        f"CSeq: {cseq} {method}\r\n{extra}"
        f"{'Content-Type: application/sdp' + chr(13) + chr(10) if body else ''}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def incoming(agent: SipUserAgent, extra: str) -> str:
    (event,) = agent.receive_datagram(invite(extra=extra), PEER, 0.0)
    assert isinstance(event, IncomingCall)
    assert [m.status for m in sent(agent)] == [100]
    return event.leg_id


# -- 100rel ------------------------------------------------------------------------------------


def test_required_100rel_makes_the_180_reliable_until_its_prack() -> None:
    # A caller that has not proven its address yet gets at most 3x its bytes back (the
    # amplification guard): lifted here to see every retransmission.
    agent = make_agent(amplification_factor=100)
    leg = incoming(agent, "Require: 100rel\r\nSupported: 100rel\r\n")
    agent.ringing(leg)
    (ringing,) = sent(agent)
    assert ringing.status == 180 and ringing.headers.get("Require") == "100rel"
    rseq = int(ringing.headers.get("RSeq") or "0")
    assert 1 <= rseq < 2**31
    # Retransmitted from T1 (0.5 s), doubling (RFC 3262 §3): at 0.5, 1.5, 3.5, 7.5 s.
    times = []
    while (now := agent.next_deadline() or 99.0) < 8.0:
        agent.handle_timer(now)
        if any(m.status == 180 for m in sent(agent)):
            times.append(now)
    assert times == [0.5, 1.5, 3.5, 7.5]
    tag = to_tag_of(ringing)
    wrong = request("PRACK", to_tag=tag, cseq=2, extra=f"RAck: {rseq + 1} 1 INVITE\r\n")
    agent.receive_datagram(wrong, PEER, 8.0)
    assert [m.status for m in sent(agent)] == [481]  # names no provisional of ours
    right = request("PRACK", to_tag=tag, cseq=3, extra=f"RAck: {rseq} 1 INVITE\r\n", branch="ok")
    agent.receive_datagram(right, PEER, 8.1)
    assert [(m.status, m.cseq) for m in sent(agent)] == [(200, (3, "PRACK"))]
    agent.handle_timer(20.0)
    assert [m.status for m in sent(agent)] == []  # no more 180s
    agent.answer(leg, SDP, 20.0)
    (ok,) = sent(agent)
    assert ok.status == 200 and "100rel" in (ok.headers.get("Supported") or "")


def test_no_prack_within_64_t1_refuses_the_invite_with_a_5xx() -> None:
    agent = make_agent()
    leg = incoming(agent, "Require: 100rel\r\n")
    agent.ringing(leg)
    sent(agent)
    events = agent.handle_timer(32.0)  # 64 * T1
    assert CallTerminated(leg_id=leg, reason="no-prack") in events
    statuses = [m.status for m in sent(agent)]
    assert statuses[-1] == 504
    assert leg not in agent.legs


def test_only_unknown_extensions_are_refused_with_420() -> None:
    agent = make_agent()
    agent.receive_datagram(invite(extra="Require: 100rel, timer, foo\r\n"), PEER, 0.0)
    (refused,) = sent(agent)
    assert refused.status == 420
    assert refused.headers.get("Unsupported") == "foo"
    agent = make_agent()
    incoming(agent, "Require: 100rel, timer\r\nSupported: timer\r\n")


# -- session timers -----------------------------------------------------------------------------


def answered(agent: SipUserAgent, extra: str) -> tuple[str, str, SipMessage]:
    leg = incoming(agent, extra)
    agent.answer(leg, SDP, 0.0)
    (ok,) = sent(agent)
    tag = to_tag_of(ok)
    agent.receive_datagram(request("ACK", to_tag=tag, cseq=1), PEER, 0.01)
    return leg, tag, ok


def test_the_caller_refreshes_or_the_session_ends_with_a_bye() -> None:
    agent = make_agent()
    leg, tag, ok = answered(agent, "Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n")
    assert ok.headers.get("Session-Expires") == "1800;refresher=uac"
    assert ok.headers.get("Require") == "timer"  # §9: the UAC supports it, it refreshes
    # A refresh at 900 s (a re-INVITE) restarts the interval.
    timer = "Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n"
    refresh = request("INVITE", to_tag=tag, cseq=2, body=OFFER, extra=timer)
    events = agent.receive_datagram(refresh, PEER, 900.0)
    agent.answer_reoffer(leg, SDP, 900.0)
    (ok2,) = [m for m in sent(agent) if m.status == 200]
    assert ok2.headers.get("Session-Expires") == "1800;refresher=uac"
    agent.receive_datagram(request("ACK", to_tag=tag, cseq=2), PEER, 900.01)
    assert agent.handle_timer(1800.0) == []  # would have expired without the refresh
    # Then nothing: at 900 + 1800 - 32 s the session is over (RFC 4028 §10).
    assert agent.next_deadline() == 900.0 + 1800 - 32
    events = agent.handle_timer(900.0 + 1800 - 32)
    assert events == [CallTerminated(leg_id=leg, reason="session-expired")]
    assert [m.method for m in sent(agent)] == ["BYE"]


def test_a_too_short_interval_gets_422_with_our_min_se() -> None:
    agent = make_agent()
    agent.receive_datagram(invite(extra="Supported: timer\r\nSession-Expires: 60\r\n"), PEER, 0.0)
    (refused,) = sent(agent)
    assert refused.status == 422
    assert refused.headers.get("Min-SE") == "90"
    # A proxy's header, the UAC knowing nothing of timers: raised to Min-SE, not refused.
    agent = make_agent()
    _, _, ok = answered(agent, "Session-Expires: 60\r\n")
    assert ok.headers.get("Session-Expires") == "90;refresher=uas"
    assert ok.headers.get("Require") is None


def test_when_we_refresh_we_send_update_at_half_the_interval_or_a_reinvite() -> None:
    agent = make_agent()
    leg, _, _ = answered(agent, "Supported: timer\r\nSession-Expires: 600;refresher=uas\r\n"
                           "Allow: INVITE, ACK, BYE, CANCEL, UPDATE\r\n")  # fmt: skip
    assert agent.legs[leg].timers[SipTimer.SESSION_REFRESH] == 300.0
    agent.handle_timer(299.9)
    sent(agent)
    agent.handle_timer(300.0)
    (update,) = sent(agent)
    assert update.method == "UPDATE" and not update.body
    assert update.headers.get("Session-Expires") == "600;refresher=uac"  # we, its UAC, refresh
    # Without UPDATE in the peer's Allow: a re-INVITE repeating our SDP unchanged.
    agent = make_agent()
    leg, _, _ = answered(agent, "Supported: timer\r\nSession-Expires: 600;refresher=uas\r\n")
    agent.handle_timer(300.0)
    (reinvite,) = sent(agent)
    assert reinvite.method == "INVITE" and reinvite.body == SDP
    # The peer no longer knows the dialog (481): the session ends with a BYE (§10).
    lines = [
        "SIP/2.0 481 Call Does Not Exist", *(f"Via: {v}" for v in reinvite.headers.get_all("Via")),
        f"From: {reinvite.headers.get('From')}", f"To: {reinvite.headers.get('To')}",
        f"Call-ID: {reinvite.call_id}", f"CSeq: {reinvite.headers.get('CSeq')}",
        "Content-Length: 0", "", "",
    ]  # fmt: skip
    events = agent.receive_datagram("\r\n".join(lines).encode(), PEER, 300.1)
    assert events == [CallTerminated(leg_id=leg, reason="session-refresh-failed")]
    assert "BYE" in [m.method for m in sent(agent)]
