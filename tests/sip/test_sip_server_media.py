"""The asyncio server with a hand-driven peer on raw sockets: RTP pacing and format,
symmetric RTP (other sources ignored), DTMF and hold by re-INVITE."""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import time

import pytest

from dipflow.channels.sip.message import SipMessage, parse_message
from dipflow.channels.sip.rtp import RtpPacket, parse_rtp
from dipflow.channels.sip.sdp import parse_sdp
from dipflow.engine.events import CallerHungUp, DigitsCollected
from tests.sip.sip_helpers import OFFER, in_dialog, invite, to_tag_of
from tests.sip.sip_host import ScriptedHost, running_server


def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def _recv_sip(sock: socket.socket, status: int, cseq: int = 1) -> SipMessage:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(5):
        while True:
            data = await loop.sock_recv(sock, 65535)
            message = parse_message(data)
            if message.status == status and message.cseq[0] == cseq:
                return message


async def _rtp_for(sock: socket.socket, seconds: float) -> list[tuple[float, RtpPacket]]:
    loop = asyncio.get_running_loop()
    packets: list[tuple[float, RtpPacket]] = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 2048), left)
        except TimeoutError:
            break
        packet = parse_rtp(data)
        if packet is not None:
            packets.append((time.monotonic(), packet))
    return packets


def _dtmf(digit: int, ts: int, seq: int) -> bytes:
    header = struct.pack("!BBHII", 0x80, 101, seq, ts, 0xABCDEF)
    return header + struct.pack("!BBH", digit, 0x80 | 10, 800)


def _ack(to_tag: str, cseq: int, sip_port: int) -> bytes:
    ack = in_dialog("ACK", to_tag=to_tag, cseq=cseq, branch=f"z9hG4bK-ack{cseq}")
    return ack.replace(b"127.0.0.1:5999", f"127.0.0.1:{sip_port}".encode())


def _reinvite(to_tag: str, branch: str, cseq: int, body: str, sip_port: int) -> bytes:
    request = in_dialog("INVITE", to_tag=to_tag, branch=branch, cseq=cseq)
    request = request.replace(b"127.0.0.1:5999", f"127.0.0.1:{sip_port}".encode())
    request = request.replace(b"Content-Length: 0\r\n\r\n", b"")
    extra = f"Contact: <sip:caller@127.0.0.1:{sip_port}>\r\nContent-Type: application/sdp\r\n"
    return request + f"{extra}Content-Length: {len(body)}\r\n\r\n{body}".encode()


@pytest.mark.slow
async def test_rtp_pacing_dtmf_from_the_peer_only_and_hold() -> None:
    host = ScriptedHost()
    sip, rtp, stranger = _udp(), _udp(), _udp()
    sip_port, rtp_port = sip.getsockname()[1], rtp.getsockname()[1]
    try:
        async with running_server(host) as server:
            target = server.address
            offer = OFFER.replace("m=audio 6000", f"m=audio {rtp_port}")
            sip.sendto(invite(body=offer, port=sip_port), target)
            ok = await _recv_sip(sip, 200)
            tag = to_tag_of(ok)
            answer = parse_sdp(ok.body)
            server_rtp = (answer.address, answer.port)
            sip.sendto(_ack(tag, 1, sip_port), target)

            packets = await _rtp_for(rtp, 1.0)
            # 50 packets per second. This loop is the server's too, and the greeting is
            # rendered in a thread meanwhile (the GIL): arrivals here bunch up by tens of
            # ms; the pacer's own timing is bench/sip.py's to measure.
            assert 40 <= len(packets) <= 52
            assert {p.payload_type for _, p in packets} == {0}  # PCMU, the offer's first
            assert all(len(p.payload) == 160 for _, p in packets)
            seqs = [p.sequence for _, p in packets]
            stamps = [p.timestamp for _, p in packets]
            assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
            assert all((b - a) & 0xFFFFFFFF == 160 for a, b in itertools.pairwise(stamps))
            # Paced on absolute deadlines, no drift: packets 25 apart arrive 0.5 s apart
            # (the median over the second: one packet held up on this shared loop, the
            # test's own, does not decide it).
            arrivals = [at for at, _ in packets]
            spans = sorted(b - a for a, b in zip(arrivals, arrivals[25:], strict=False))
            assert abs(spans[len(spans) // 2] - 0.5) < 0.01

            stranger.sendto(_dtmf(2, 1000, 1), server_rtp)  # not the negotiated peer
            await asyncio.sleep(0.3)
            assert not any(isinstance(e, DigitsCollected) for e in host.calls[0].events)
            for seq in range(3):
                rtp.sendto(_dtmf(1, 2000, 10 + seq), server_rtp)  # symmetric: from our port
            await asyncio.sleep(0.3)
            assert [e for e in host.calls[0].events if isinstance(e, DigitsCollected)] == [
                DigitsCollected(digits="1")
            ]

            # Hold (RFC 3264 §8.4): we offer sendonly, the server answers recvonly and
            # stops sending; resuming with sendrecv brings the music back.
            hold = offer.replace("a=sendrecv", "a=sendonly")
            sip.sendto(_reinvite(tag, "z9hG4bK-hold", 3, hold, sip_port), target)
            held = await _recv_sip(sip, 200, cseq=3)
            assert b"a=recvonly" in held.body
            sip.sendto(_ack(tag, 3, sip_port), target)
            await _rtp_for(rtp, 0.2)  # drain what was in flight
            assert await _rtp_for(rtp, 0.6) == []
            sip.sendto(_reinvite(tag, "z9hG4bK-resume", 4, offer, sip_port), target)
            resumed = await _recv_sip(sip, 200, cseq=4)
            assert b"a=sendrecv" in resumed.body
            sip.sendto(_ack(tag, 4, sip_port), target)
            assert len(await _rtp_for(rtp, 0.5)) >= 20

            bye = in_dialog("BYE", to_tag=tag, cseq=5, branch="z9hG4bK-bye")
            sip.sendto(bye.replace(b"127.0.0.1:5999", f"127.0.0.1:{sip_port}".encode()), target)
            assert (await _recv_sip(sip, 200, cseq=5)).cseq == (5, "BYE")
            await host.wait_calls(1, within_s=5)
        assert host.calls[0].events[-1] == CallerHungUp()
    finally:
        for sock in (sip, rtp, stranger):
            sock.close()


async def test_hostile_caller_ids_are_passed_as_data() -> None:
    host = ScriptedHost(numbers=("1000",))
    sip = _udp()
    try:
        # From a trusted peer (RFC 3325), so that its P-Asserted-Identity is read at all.
        async with running_server(host, trusted_peers=("127.0.0.1",)) as server:
            hostile = "%27%3B%20DROP%20TABLE%20contacts--%0A%3Cscript%3E"
            sip.sendto(invite(user=hostile, port=sip.getsockname()[1]), server.address)
            ok = await _recv_sip(sip, 200)
            long_pai = "P-Asserted-Identity: <sip:" + "9" * 2000 + "@x>\r\n"
            sip.sendto(
                invite(branch="z9hG4bK-2", call_id="c2", extra=long_pai, port=sip.getsockname()[1]),
                server.address,
            )
            await _recv_sip(sip, 200)
            assert ok.status == 200
        first, second = host.calls
        assert first.ani == "'; DROP TABLE contacts--\n<script>"  # decoded, verbatim data
        assert second.ani == "9" * 256  # P-Asserted-Identity wins; capped in length
    finally:
        sip.close()
