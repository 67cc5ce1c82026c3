"""Issue 11, item 5: ghost calls, against a real node.

The attack as filed: a caller that vanishes without a BYE stays queued for good and is
offered to agents. Now a confirmed call whose RTP stops is ended after `rtp_timeout_s`
(not while the caller holds the call: RFC 3264 §8.4), one whose RTP port answers ICMP
port unreachable is ended within seconds, and queues have a default maximum wait.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dipflow.center import CenterConfig, ContactCenter, MemoryCenterStore
from dipflow.center.model import ContactLeftQueue
from dipflow.runtime.notices import CallPhase
from tests.center.center_helpers import FakeClock, Recorder
from tests.security.node import Node, queue_flow, running_node
from tests.security.sip_peer import Dialog, SipPeer, in_dialog, place_call, sdp_offer

pytestmark = pytest.mark.slow

# The checks run on the control plane in both layouts; with a media worker the leg's
# receive figures come over the link and the worker connects the socket (media_link.py).
media_modes = pytest.mark.parametrize("media_mode", ["inline", "process"])


async def _keep_talking(dialog: Dialog, server: tuple[str, int], seconds: float) -> None:
    """RTP every 20 ms to the port of the node's SDP answer."""
    assert dialog.answer_port is not None
    for _ in range(int(seconds / 0.02)):
        dialog.rtp.send_frame((server[0], dialog.answer_port))
        await asyncio.sleep(0.02)


async def _bye_within(peer: SipPeer, seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        message = await peer.next_message(left)
        if message is not None and message.method == "BYE":
            return True
    return False


def _queued(node: Node) -> list[str]:
    return [c.call_id for c in node.runtime.active_calls() if c.state is CallPhase.QUEUED]


@media_modes
async def test_a_caller_gone_silent_is_ended_and_leaves_the_queue(
    tmp_path: Path, media_mode: str
) -> None:
    async with running_node(
        sip={"rtp_timeout_s": 2.0, "media_mode": media_mode}, flow=queue_flow(tmp_path)
    ) as node:
        server = node.sip_address
        caller = await SipPeer.open("127.0.0.1")
        try:
            dialog = await place_call(caller, server)
            assert dialog is not None
            # Talking for longer than the timeout: the call stays.
            await _keep_talking(dialog, server, 3.0)
            assert len(_queued(node)) == 1
            assert not await _bye_within(caller, 0.1)
            # Then nothing, and no BYE: the line died. The node hangs up within the timeout
            # (plus its 1 s check) and the caller leaves the queue.
            assert await _bye_within(caller, 2.0 + 2.5)
            await asyncio.sleep(0.3)
            assert _queued(node) == []
            snapshot = await node.runtime.center.snapshot()
            assert all(not q.waiting for q in snapshot.queues)
            assert node.sip.stats()["rtp_ended_no_media"] == 1
            (summary,) = node.runtime.recent_calls()
            assert summary.state is CallPhase.ENDED
            dialog.rtp.close()
        finally:
            caller.close()


@media_modes
async def test_a_held_call_may_be_silent(tmp_path: Path, media_mode: str) -> None:
    async with running_node(
        sip={"rtp_timeout_s": 2.0, "media_mode": media_mode}, flow=queue_flow(tmp_path)
    ) as node:
        server = node.sip_address
        caller = await SipPeer.open("127.0.0.1")
        try:
            dialog = await place_call(caller, server)
            assert dialog is not None
            await _keep_talking(dialog, server, 0.5)
            # Hold (RFC 3264 §8.4): a re-INVITE with a=sendonly; then silence.
            hold = sdp_offer(caller.host, dialog.rtp.port, direction="sendonly")
            caller.send(in_dialog(caller, dialog, "INVITE", cseq=2, body=hold,
                                  content_type="application/sdp"), server)  # fmt: skip
            answer = await caller.final_response(dialog.call_id)
            assert answer is not None and answer.status == 200
            assert b"a=recvonly" in answer.body
            caller.send(in_dialog(caller, dialog, "ACK", cseq=2), server)
            assert not await _bye_within(caller, 5.0)  # > 2 s timeout + the check
            assert len(_queued(node)) == 1
            caller.send(in_dialog(caller, dialog, "BYE", cseq=3), server)
            dialog.rtp.close()
        finally:
            caller.close()


@media_modes
async def test_a_caller_whose_rtp_port_is_closed_is_ended_within_seconds(
    tmp_path: Path, media_mode: str
) -> None:
    async with running_node(
        sip={"rtp_timeout_s": 60.0, "media_mode": media_mode}, flow=queue_flow(tmp_path)
    ) as node:
        server = node.sip_address
        caller = await SipPeer.open("127.0.0.1")
        try:
            dialog = await place_call(caller, server)
            assert dialog is not None
            await _keep_talking(dialog, server, 1.5)
            assert len(_queued(node)) == 1
            dialog.rtp.close()  # the phone is gone: its port answers ICMP unreachable
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert await _bye_within(caller, 8.0)
            assert loop.time() - started < 8.0  # not the 60 s RTP timeout
            await asyncio.sleep(0.3)
            assert _queued(node) == []
            assert node.sip.stats()["rtp_ended_unreachable"] == 1
        finally:
            caller.close()


async def test_queues_have_a_default_maximum_wait() -> None:
    config = CenterConfig.model_validate(
        {"queues": [{"name": "q", "teams": ["t"]}, {"name": "open", "max_wait_s": None}]}
    )
    assert config.queues[0].max_wait_s == 3600
    assert config.queues[1].max_wait_s is None  # a deployment may still remove the bound
    clock = FakeClock()
    center = ContactCenter(config, MemoryCenterStore(), clock=clock)
    recorder = Recorder()
    center.subscribe(recorder)
    await center.enqueue("ghost", "q")
    clock.advance(3599)
    await center.tick()
    assert not recorder.of(ContactLeftQueue)
    clock.advance(2)
    await center.tick()
    assert recorder.of(ContactLeftQueue) == [
        ContactLeftQueue(call_id="ghost", queue="q", reason="max_wait")
    ]
