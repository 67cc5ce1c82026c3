"""Codecs with a real peer (sipp): a re-INVITE that changes the codec mid-prompt, a G.722
caller, a wideband-only offer. The RTP we send goes to a socket of the test, which
checks every payload's type and bytes against the rendered prompt and decodes it: the
audio after a switch must be the same prompt in the new codec, not the old codec's
bytes under the new label (which sounds as loud noise)."""

from __future__ import annotations

import asyncio
import math
import socket
import struct
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from dipflow.channels.sip.codecs import G722_PROMPTS, SILENCE, decode_pcm, transcode
from dipflow.channels.sip.sdp import Codec
from tests.sip.sip_host import GREETING, ScriptedHost, free_port, running_server, shared_prompts
from tests.sip.sipp_runner import run_sipp, scenario

pytestmark = pytest.mark.slow

Packet = tuple[int, int, bytes]  # payload type, sequence, payload

NAMES = {Codec.PCMU: "PCMU/8000", Codec.PCMA: "PCMA/8000", Codec.G722: "G722/8000"}


@contextmanager
def rtp_sink() -> Iterator[tuple[int, list[Packet], socket.socket]]:
    """A UDP socket standing for the caller's RTP port; packets are read by `drain`."""
    port = free_port(even=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.setblocking(False)
    try:
        yield port, [], sock
    finally:
        sock.close()


async def _drain(sock: socket.socket, packets: list[Packet], done: asyncio.Event) -> None:
    while not done.is_set():
        try:
            data = sock.recv(2048)
        except BlockingIOError:
            await asyncio.sleep(0.002)
            continue
        _, second, sequence = struct.unpack_from("!BBH", data)
        packets.append((second & 0x7F, sequence, data[12:]))


def _snr_db(signal: bytes, reference: bytes) -> float:
    a, b = array("h"), array("h")
    a.frombytes(signal)
    b.frombytes(reference)
    power = sum(x * x for x in b) or 1
    noise = sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) or 1
    return 10 * math.log10(power / noise)


async def _switch_call(tmp_path: Path, first: Codec, second: Codec) -> list[Packet]:
    host = ScriptedHost(menu=False)
    with rtp_sink() as (port, packets, sock):
        async with running_server(host) as server:
            xml = scenario(
                "uac_codec_switch.xml", tmp_path, RTP_PORT=str(port),
                FIRST_PT=str(int(first)), FIRST_NAME=NAMES[first],
                SECOND_PT=str(int(second)), SECOND_NAME=NAMES[second],
                SWITCH_MS="2500", AFTER_MS="2500",
            )  # fmt: skip
            done = asyncio.Event()
            reader = asyncio.create_task(_drain(sock, packets, done))
            result = await run_sipp(xml, server.address, timeout_s=30)
            done.set()
            await reader
            assert result.returncode == 0, result.output[-3000:]
            await host.wait_calls(1, within_s=10)
    return packets


def _encoded(codec: Codec) -> bytes:
    rendered = shared_prompts().render_text(GREETING, language="en-US", voice=None)
    if codec is Codec.G722:
        return G722_PROMPTS.get(rendered.key, lambda: rendered.pcm.samples)
    return rendered.ulaw() if codec is Codec.PCMU else rendered.alaw()


@pytest.mark.parametrize(
    ("first", "second"),
    [(Codec.PCMU, Codec.PCMA), (Codec.PCMA, Codec.PCMU), (Codec.G722, Codec.PCMU)],
)
async def test_reinvite_changing_the_codec_mid_prompt_keeps_the_prompt(
    tmp_path: Path, first: Codec, second: Codec
) -> None:
    packets = sorted(await _switch_call(tmp_path, first, second), key=lambda p: p[1])
    types = [pt for pt, _, _ in packets]
    switch = types.index(int(second))  # the first packet after the re-INVITE's answer
    assert set(types[:switch]) == {int(first)} and set(types[switch:]) == {int(second)}
    assert switch > 50 and len(types) - switch > 50  # ~2.5 s of each
    # Before the switch: the greeting in the first codec, byte for byte.
    before = _encoded(first)
    speech = next(i for i, (_, _, p) in enumerate(packets) if p != SILENCE[first])
    start = before.find(packets[speech][2])
    assert start >= 0 and start % 160 == 0
    for i in range(speech, switch):
        offset = start + 160 * (i - speech)
        assert packets[i][2] == before[offset : offset + 160], f"packet {i}"
    # After it: the rest of the same greeting, re-encoded (not the old bytes relabelled).
    after = transcode(before, first, second)
    end = min(len(packets), speech + (len(before) - start) // 160)
    assert end - switch > 50, "the greeting ended before the switch"
    for i in range(switch, end):
        offset = start + 160 * (i - speech)
        assert packets[i][2] == after[offset : offset + 160], f"packet {i}"
    # Decoded as its payload type says, it is the greeting (not noise).
    heard = b"".join(decode_pcm(p, second) for _, _, p in packets[switch:end])
    offset = start + 160 * (switch - speech)
    # (decoded whole: G.722's decoder adapts, it cannot start mid-stream)
    reference = decode_pcm(before, first)[2 * offset : 2 * (offset + 160 * (end - switch))]
    assert _snr_db(heard, reference) > 25  # re-encoding G.711 costs ~1 dB; noise is < 0 dB
    wrong = b"".join(decode_pcm(p, first) for _, _, p in packets[switch:end])
    assert _snr_db(wrong, reference) < 5  # what the caller heard before the fix


async def test_wideband_only_offer_gets_488_with_warning_305(tmp_path: Path) -> None:
    host = ScriptedHost()
    registry = CollectorRegistry()
    async with running_server(host, registry=registry) as server:
        result = await run_sipp(scenario("uac_offer_refused.xml", tmp_path), server.address,
                                timeout_s=15)  # fmt: skip
    assert result.returncode == 0, result.output[-3000:]  # the Warning matched (check_it)
    assert host.calls == []
    (refused,) = host.refused
    assert refused["status"] == 488 and refused["ani"] == "+15557654321"
    assert "offered opus/48000/2, g7221/16000" in str(refused["reason"])
    exposed = generate_latest(registry).decode()
    assert "dipflow_sip_codec_mismatches_total 1.0" in exposed
    assert 'dipflow_sip_call_failures_total{direction="inbound",status="488"} 1.0' in exposed
