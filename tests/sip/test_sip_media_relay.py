"""RTP sessions without sockets: playback framing, PromptDone timing, bridging with transcoding."""

from __future__ import annotations

import asyncio

from dipflow.channels.sip.latch import MediaPeer
from dipflow.channels.sip.media import Playback, RtpSession, SessionListener
from dipflow.channels.sip.protection import AmplificationGuard
from dipflow.channels.sip.rtp import RtpStream, parse_rtp
from dipflow.channels.sip.sdp import Codec, Direction, Negotiated
from dipflow.media import g711


class _Recorder(SessionListener):
    def __init__(self) -> None:
        self.done: list[str | None] = []

    def on_playback_done(self, session: RtpSession, playback: Playback) -> None:
        self.done.append(playback.prompt_id)


class _FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))


def _session(codec: Codec, remote_port: int, listener: SessionListener | None = None) -> RtpSession:
    guard = AmplificationGuard(factor=3.0, max_keys=16)
    guard.verify("127.0.0.1")  # the peer proved itself in the signalling
    peer = MediaPeer(guard, window_s=2.0, signalling_ip="127.0.0.1")
    session = RtpSession(port=40000, listener=listener or SessionListener(), peer=peer)
    session.configure(
        Negotiated(
            codec=codec,
            dtmf_payload_type=101,
            remote_address="127.0.0.1",
            remote_port=remote_port,
            direction=Direction.SENDRECV,
        )
    )
    session.transport = _FakeTransport()  # type: ignore[assignment]
    session.sending = True
    peer.confirm()
    return session


def test_prompt_is_sent_in_20ms_frames_and_done_after_its_last_frame() -> None:
    recorder = _Recorder()
    session = _session(Codec.PCMU, 6000, recorder)
    audio = bytes(range(200)) * 2  # 400 samples = 2.5 frames
    session.play(Playback(prompt_id="p1", audio=audio, loop=False, interruptible=False))
    session.send_frame()
    session.send_frame()
    assert recorder.done == []
    session.send_frame()  # the last, partial frame (padded with silence)
    assert recorder.done == ["p1"]
    sent = [parse_rtp(data) for data, _ in session.transport.sent]  # type: ignore[union-attr]
    payloads = [p.payload for p in sent if p is not None]
    assert payloads[0] == audio[:160] and payloads[1] == audio[160:320]
    assert payloads[2] == audio[320:] + b"\xff" * 80
    session.send_frame()  # idle: comfort silence
    last = parse_rtp(session.transport.sent[-1][0])  # type: ignore[union-attr]
    assert last is not None and last.payload == b"\xff" * 160


def test_music_loops_without_a_gap() -> None:
    session = _session(Codec.PCMA, 6000)
    audio = bytes(range(1, 251))  # 250 samples: not a multiple of a frame
    session.play(Playback(prompt_id=None, audio=audio, loop=True, interruptible=False))
    frames = b"".join(session.next_frame() for _ in range(5))
    assert frames == (audio * 4)[:800]


def test_bridge_relays_and_transcodes_ulaw_to_alaw() -> None:
    caller = _session(Codec.PCMU, 6000)
    agent = _session(Codec.PCMA, 7000)
    caller.bridge, agent.bridge = agent, caller
    ulaw = g711.ulaw_encode(bytes(range(0, 240, 1)) * 2)[:240]  # a 30 ms packet
    stream = RtpStream(int(Codec.PCMU))
    caller.datagram_received(stream.packet(ulaw), ("127.0.0.1", 6000))
    caller.datagram_received(stream.packet(ulaw), ("127.0.0.2", 6000))  # wrong source
    expected = g711.ulaw_to_alaw(ulaw)
    assert bytes(agent.relay) == expected
    assert agent.next_frame() == expected[:160]  # re-framed to 20 ms
    assert agent.next_frame() == bytes([g711.ALAW_SILENCE]) * 160  # 80 left: wait for more
    assert caller.ignored_sources == 1


def test_open_session_binds_an_even_port() -> None:
    from dipflow.channels.sip.media import PortAllocator, open_session

    async def run() -> int:
        guard = AmplificationGuard(factor=3.0, max_keys=16)
        session = await open_session(
            "127.0.0.1", PortAllocator(41000, 41100), SessionListener(), ledger=guard,
            latch_window_s=2.0,
        )  # fmt: skip
        assert session is not None
        session.close()
        return session.port

    assert asyncio.run(run()) % 2 == 0
