"""Start Media Stream over real SIP: sipp speaks (sipp's own G.711 A-law sample, played as
RTP), the flow forks the caller's audio to a WebSocket endpoint, and a local receiver
gets exactly that audio, as u-law, framed as docs/media.md says."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
import yaml
from websockets.asyncio.server import ServerConnection, serve

from dipflow.channels.sip import SipServer, SipSettings
from dipflow.emulator.testing import free_port, running_emulator
from dipflow.media import g711
from dipflow.runtime.config import DipflowConfig
from dipflow.runtime.demo import demo_config, demo_environ
from dipflow.runtime.runtime import Runtime
from tests.sip.sipp_runner import PCAPS, run_sipp, scenario

pytestmark = pytest.mark.slow

CALLER = "+14155550123"


def pcap_audio(path: Path) -> bytes:
    """The RTP payloads of a pcap (Ethernet, IPv4, UDP), in order."""
    data = path.read_bytes()
    link = struct.unpack("<I", data[20:24])[0]
    assert link == 1, "an Ethernet capture"
    offset, audio = 24, bytearray()
    while offset < len(data):
        length = struct.unpack("<I", data[offset + 8 : offset + 12])[0]
        packet = data[offset + 16 : offset + 16 + length]
        offset += 16 + length
        ip = packet[14:]
        udp = ip[(ip[0] & 0x0F) * 4 :]
        rtp = udp[8:]
        audio += rtp[12 + 4 * (rtp[0] & 0x0F) :]
    return bytes(audio)


class Receiver:
    """The AI service's side: records what one stream sends."""

    def __init__(self) -> None:
        self.texts: list[dict[str, Any]] = []
        self.audio = bytearray()
        self.frames = 0

    async def handle(self, connection: ServerConnection) -> None:
        async for message in connection:
            if isinstance(message, bytes):
                self.audio += message
                self.frames += 1
            else:
                self.texts.append(json.loads(message))


async def test_the_callers_audio_reaches_the_websocket_endpoint(tmp_path: Path) -> None:
    flow = tmp_path / "stream.yaml"
    flow.write_text(
        yaml.safe_dump(
            {
                "name": "stream",
                "start": "Start",
                "activities": {
                    "Start": {"kind": "start", "next": "Stream"},
                    "Stream": {"kind": "start_media_stream", "destination": "Cisco AI Assistant",
                               "next": "Music"},
                    "Music": {"kind": "play_music"},
                },
            }
        )
    )  # fmt: skip
    receiver = Receiver()
    ws_port = free_port()
    async with serve(receiver.handle, "127.0.0.1", ws_port):
        with running_emulator(seed="demo", require_auth=True) as crm:
            base = demo_config(emulator=crm, tts="silent", web_port=0, flow=str(flow))
            data = base.model_dump(mode="json")
            data["media_streams"] = {"Cisco AI Assistant": f"ws://127.0.0.1:{ws_port}/audio"}
            config = DipflowConfig.model_validate({**data, "base_dir": tmp_path})
            runtime = await Runtime.create(config, environ=demo_environ(crm))
            await runtime.start()
            sip = SipServer(
                SipSettings(host="127.0.0.1", port=0, rtp_port_min=31500, rtp_port_max=31600),
                host=runtime,
                prompts=runtime.prompts,
            )
            await sip.start()
            try:
                xml = scenario("uac_audio_bye.xml", tmp_path, CALLER_NUMBER=CALLER,
                               AUDIO_PCAP_FILE=str(PCAPS / "g711a.pcap"))  # fmt: skip
                result = await run_sipp(xml, sip.address, service="18005550100", timeout_s=60)
            finally:
                await sip.stop()
                await runtime.stop()
    assert result.returncode == 0, result.output[-3000:]
    start, stop = receiver.texts[0], receiver.texts[-1]
    (summary,) = runtime.recent_calls()
    assert start["event"] == "start" and start["encoding"] == "audio/x-mulaw"
    assert (start["call_id"], start["ani"]) == (summary.call_id, CALLER)
    assert stop["event"] == "stop" and stop["frames"] == receiver.frames
    spoken = g711.alaw_to_ulaw(pcap_audio(PCAPS / "g711a.pcap"))
    heard = bytes(receiver.audio)
    # What arrived is the caller's speech, converted to u-law, in order: all of it but
    # what (if anything) was said before the stream started.
    assert len(heard) >= 0.9 * len(spoken)
    assert spoken.endswith(heard)
