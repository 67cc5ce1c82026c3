"""Issue 11, item 8: Redis restarted empty, against a real node and a real redis-server.

As filed: after Redis came back empty, queued callers were never routed again, agents'
desktops showed "Available" while the center had them logged out, and callers during
the outage were told no agent could take the call and were disconnected. Now the node
re-asserts its callers and agents into the empty store (and tells the desktops), and
callers during an outage wait with music, for a bounded time.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from dipflow.center import AgentState, AgentStateChanged, ContactOffered, Notification
from dipflow.runtime.notices import CallPhase
from tests.security.node import Node, queue_flow, running_node
from tests.security.redis_proc import RedisProcess
from tests.security.sip_peer import Dialog, RtpPeer, SipPeer, place_call, sdp_offer

pytestmark = pytest.mark.slow

OUTAGE_WAIT_S = 6.0


@pytest.fixture
async def redis_process() -> AsyncIterator[RedisProcess]:
    server = RedisProcess()
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def _answer_invites(phone: SipPeer, rtp: RtpPeer) -> None:
    """The agent's phone: answer every INVITE with 200 and an SDP answer (auto-answer)."""
    while True:
        message = await phone.next_message(3600)
        if message is None or message.method != "INVITE":
            continue
        lines = ["SIP/2.0 200 OK"]
        lines += [f"Via: {v}" for v in message.headers.get_all("Via")]
        lines += [
            f"From: {message.headers.get('From')}",
            f"To: {message.headers.get('To')};tag={secrets.token_hex(4)}",
            f"Call-ID: {message.call_id}",
            f"CSeq: {message.cseq[0]} INVITE",
            f"Contact: <sip:agent3@{phone.host}:{phone.port}>",
            "Content-Type: application/sdp",
        ]
        body = sdp_offer(phone.host, rtp.port)
        lines += [f"Content-Length: {len(body)}", "", ""]
        via = message.headers.get_all("Via")[0]
        sent_by = re.search(r"UDP ([^;:]+):(\d+)", via)
        assert sent_by is not None
        phone.send("\r\n".join(lines).encode() + body, (sent_by.group(1), int(sent_by.group(2))))


async def _until(predicate: Callable[[], Awaitable[bool]], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not await predicate():  # noqa: ASYNC110 - polling the node and the store
            await asyncio.sleep(0.1)


def _phase(node: Node, call_id: str) -> CallPhase | None:
    for summary in node.runtime.recent_calls(200):
        if summary.call_id == call_id:
            return summary.state
    return None


async def _call(caller: SipPeer, node: Node) -> tuple[Dialog, str]:
    known = {c.call_id for c in node.runtime.active_calls()}
    dialog = await place_call(caller, node.sip_address)
    assert dialog is not None
    (call_id,) = [c.call_id for c in node.runtime.active_calls() if c.call_id not in known]
    return dialog, call_id


async def test_a_node_reasserts_its_callers_and_agents_into_a_restarted_redis(
    tmp_path: Path, redis_process: RedisProcess
) -> None:
    store = {"kind": "redis", "url": redis_process.url, "prefix": "restart:",
             "check_interval_s": 0.3, "outage_wait_s": OUTAGE_WAIT_S}  # fmt: skip
    async with running_node(flow=queue_flow(tmp_path), tweak={"store": store}) as node:
        runtime, center = node.runtime, node.runtime.center
        heard: list[Notification] = []
        center.subscribe(heard.append)  # what the node's desktops hear
        phone = await SipPeer.open("127.0.0.7")
        phone_rtp = await RtpPeer.open("127.0.0.7")
        callers = [await SipPeer.open("127.0.0.1") for _ in range(4)]
        answering: asyncio.Task[None] | None = None
        try:
            ok, _ = await phone.register(user="agent3", password="agent3",
                                         server=node.sip_address)  # fmt: skip
            assert ok is not None and ok.status == 200
            answering = asyncio.create_task(_answer_invites(phone, phone_rtp))
            # Before: agent3 talks to caller A, agent2 is at lunch, caller B waits.
            await center.login("agent2")
            await center.set_idle("agent2", "lunch")
            await center.login("agent3")
            await center.set_available("agent3")
            dialog_a, call_a = await _call(callers[0], node)
            await _until(lambda: _offered_to(heard, call_a), 5)
            assert await runtime.agent_accept("agent3", call_a)
            dialog_b, call_b = await _call(callers[1], node)
            await asyncio.sleep(0.5)
            assert _phase(node, call_b) is CallPhase.QUEUED

            # Redis dies. A caller who arrives now waits with music, not "no agent".
            redis_process.kill()
            dialog_c, call_c = await _call(callers[2], node)
            await asyncio.sleep(1.5)
            assert _phase(node, call_c) is CallPhase.QUEUED
            assert runtime.session(call_c) is not None

            # Redis comes back empty.
            redis_process.start()
            assert redis_process.keys() == 0
            heard.clear()

            async def rebuilt() -> bool:
                snap = await center.snapshot()
                waiting = [w.call_id for q in snap.queues for w in q.waiting]
                return waiting == [call_b, call_c]

            await _until(rebuilt, 10)
            snap = await center.snapshot()
            agents = {a.agent_id: a for a in snap.agents}
            assert (agents["agent3"].state, agents["agent3"].call_id) == (
                AgentState.CONNECTED, call_a,
            )  # fmt: skip
            assert (agents["agent2"].state, agents["agent2"].reason) == (AgentState.IDLE, "lunch")
            assert agents["agent1"].state is AgentState.LOGGED_OUT
            # The desktops were told each agent's real state.
            told = {n.agent_id: n.state for n in heard if isinstance(n, AgentStateChanged)}
            assert told["agent3"] is AgentState.CONNECTED
            assert told["agent2"] is AgentState.IDLE

            # And routing works again: the first agent to come is offered caller B,
            # the one who had waited longest.
            await center.login("agent1")
            await center.set_available("agent1")
            await _until(lambda: _offered_to(heard, call_b, "agent1"), 5)
            # The call that went on through it all ends cleanly in the rebuilt store: agent3
            # is free again, and takes the next caller (C).
            await runtime.agent_hangup("agent3", call_a)
            await _until(lambda: _ended(node, call_a), 5)
            await _until(lambda: _offered_to(heard, call_c, "agent3"), 5)

            # A long outage: a caller waits with music for `outage_wait_s`, then hears
            # the flow's apology (its queue failure path), never silence.
            redis_process.kill()
            dialog_d, call_d = await _call(callers[3], node)
            await asyncio.sleep(OUTAGE_WAIT_S / 2)
            assert _phase(node, call_d) is CallPhase.QUEUED
            await _until(lambda: _ended(node, call_d), OUTAGE_WAIT_S + 5)
            summary = next(c for c in runtime.recent_calls(200) if c.call_id == call_d)
            assert "Bye" in summary.path
            for dialog in (dialog_a, dialog_b, dialog_c, dialog_d):
                dialog.rtp.close()
        finally:
            if answering is not None:
                answering.cancel()
            phone.close()
            phone_rtp.close()
            for caller in callers:
                caller.close()


async def _offered_to(heard: list[Notification], call_id: str, agent_id: str = "") -> bool:
    return any(
        isinstance(n, ContactOffered)
        and n.call_id == call_id
        and (not agent_id or n.agent_id == agent_id)
        for n in heard
    )


async def _ended(node: Node, call_id: str) -> bool:
    return node.runtime.session(call_id) is None
