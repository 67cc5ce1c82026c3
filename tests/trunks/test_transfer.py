"""Blind transfer with real peers: by REFER (baresip transfers itself to a second baresip),
by a bridged leg when the caller refuses REFER (sipp), with the destination's early
media passed to the caller; a busy destination takes the error path with the caller
still connected to the IVR."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr

from dipflow.channels.seam import ChannelCall, MediaQuality, TransferResult, TransferringCall
from dipflow.channels.sip.trunkconfig import Credentials, IpTrustAuth, TrunkServer, TrunkSettings
from dipflow.engine.commands import PlayMusic
from dipflow.engine.events import Event
from tests.runtime.sim_calls import wait_until
from tests.sip.baresip_peer import Baresip, tone_wav
from tests.sip.sip_host import running_server
from tests.sip.sipp_runner import PCAPS
from tests.sip.test_sip_baresip import sox_duration, sox_stat
from tests.trunks.sipp import SippServer, scenario, sipp

pytestmark = pytest.mark.slow


@dataclass
class TransferCall:
    channel_call: ChannelCall
    destination: str
    call_id: str = "transfer"
    events: list[Event] = field(default_factory=list)
    result: TransferResult | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    media: tuple[MediaQuality, ...] = ()

    def post(self, event: Event) -> None:
        self.events.append(event)

    def report_media(self, quality: tuple[MediaQuality, ...]) -> None:
        self.media = quality

    async def run(self) -> None:
        """Music (rendering it may take a while on a busy machine: not waited for), then
        a second later the Blind Transfer activity."""
        music = asyncio.create_task(self.channel_call.execute(PlayMusic(prompt_id="music")))
        await asyncio.sleep(1.0)
        assert isinstance(self.channel_call, TransferringCall)
        self.result = await self.channel_call.transfer(self.destination, caller_id=None)
        self.done.set()
        await music


class TransferHost:
    def __init__(self, destination: str) -> None:
        self.destination = destination
        self.calls: list[TransferCall] = []
        self.tasks: list[asyncio.Task[None]] = []

    def start_call(
        self,
        channel_call: ChannelCall,
        *,
        ani: str,
        dnis: str,
        channel: str,
        call_id: str | None = None,
        ani_verified: bool = True,
    ) -> TransferCall:
        call = TransferCall(channel_call=channel_call, destination=self.destination)
        self.calls.append(call)
        self.tasks.append(asyncio.get_running_loop().create_task(call.run()))
        return call

    async def result(self, within_s: float = 30.0) -> TransferResult:
        async with asyncio.timeout(within_s):
            while not self.calls:  # noqa: ASYNC110 - appended by the server
                await asyncio.sleep(0.05)
            await self.calls[0].done.wait()
        result = self.calls[0].result
        assert result is not None
        return result


async def test_refer_to_a_second_baresip(tmp_path: Path) -> None:
    caller_tone = tone_wav(tmp_path / "caller.wav", 600)
    target_tone = tone_wav(tmp_path / "target.wav", 1000)
    target_account = "<sip:target@127.0.0.1>;regint=0;answermode=auto"
    async with Baresip(tmp_path / "target", account=target_account,
                       source_wav=target_tone) as target:  # fmt: skip
        host = TransferHost(f"sip:target@127.0.0.1:{target.sip_port}")
        caller_phone = Baresip(tmp_path / "caller", account="<sip:caller@127.0.0.1>;regint=0",
                               source_wav=caller_tone)  # fmt: skip
        async with running_server(host) as server, caller_phone as caller:  # type: ignore[arg-type]
            await caller.command("dial", f"sip:1000@127.0.0.1:{server.address[1]}")
            result = await host.result()
            assert result == TransferResult(ok=True, method="refer")
            await target.wait_event("CALL_ESTABLISHED", within_s=10)
            assert server.calls == {}  # dipflow has left the call (its leg is BYEd)
            await asyncio.sleep(3.0)  # caller and target talk, without dipflow
            await caller.command("hangup")
            await target.wait_event("CALL_CLOSED")
            heard_by_target = target.recording()
    end = sox_duration(heard_by_target)
    hears = sox_stat(heard_by_target, end - 2.5, end - 0.5)
    assert abs(hears["Rough frequency"] - 600) < 40, hears  # the caller's own tone


async def test_bridged_when_refer_is_refused_with_early_media(tmp_path: Path) -> None:
    (tmp_path / "uas").mkdir()
    target_xml = scenario("uas_early_media.xml", tmp_path / "uas",
                          PCAP=str(PCAPS / "g711a.pcap"), EARLY_MS="3000")  # fmt: skip
    async with SippServer(target_xml) as target:
        # The caller comes in through the carrier (so a number can be REFERred to it).
        trunk = TrunkSettings(
            name="carrier", servers=(TrunkServer(host="127.0.0.1", port=target.port),),
            auth=IpTrustAuth(addresses=("127.0.0.1",),
                             credentials=Credentials(username="u", password=SecretStr("p"))),
            dids=("1000",),
        )  # fmt: skip
        host = TransferHost("+15550001111")
        async with running_server(host, trunks=(trunk,)) as server:  # type: ignore[arg-type]
            caller_xml = scenario("uac_refuses_refer.xml", tmp_path,
                                  PCAP=str(PCAPS / "g711a.pcap"), PAUSE_MS="8000")  # fmt: skip
            calling = asyncio.create_task(sipp(caller_xml, server.address, service="1000"))
            await asyncio.sleep(2.5)  # REFER refused, the target is ringing with early media
            (call,) = server.calls.values()
            assert call.agent_session is None  # not answered yet...
            early = call.session.bridge  # ...but the caller hears the destination's leg
            assert early is not None
            await wait_until(lambda: early.packets_received > 20, within_s=3.0)
            assert not early.sending  # nothing goes to the destination before the answer
            result = await host.result()
            assert result == TransferResult(ok=True, method="bridge")
            agent_leg = call.agent_session
            assert agent_leg is not None
            await wait_until(lambda: agent_leg.packets_received > 100, within_s=3.0)
            caller_result = await calling
            assert caller_result.returncode == 0, caller_result.output[-3000:]
            target_result = await target.result()
    assert target_result.returncode == 0, target_result.output[-3000:] + target.messages()[-2000:]
    assert "INVITE sip:+15550001111@127.0.0.1" in target.messages()


async def test_busy_destination_takes_the_error_path(tmp_path: Path) -> None:
    (tmp_path / "uas").mkdir()
    busy_xml = scenario("uas_busy.xml", tmp_path / "uas")
    async with SippServer(busy_xml) as busy:
        trunk = TrunkSettings(
            name="carrier", servers=(TrunkServer(host="127.0.0.1", port=busy.port),),
            auth=IpTrustAuth(addresses=("127.0.0.1",)), dids=("1000",),
        )  # fmt: skip
        host = TransferHost("+15550002222")
        async with running_server(host, trunks=(trunk,)) as server:  # type: ignore[arg-type]
            caller_xml = scenario("uac_refuses_refer.xml", tmp_path,
                                  PCAP=str(PCAPS / "g711a.pcap"), PAUSE_MS="4000")  # fmt: skip
            calling = asyncio.create_task(sipp(caller_xml, server.address, service="1000"))
            result = await host.result()
            assert result == TransferResult(ok=False, method="bridge", error="refused with 486")
            (call,) = server.calls.values()  # the caller is still with the IVR
            assert call.agent_session is None and call.session.bridge is None
            sent = call.session.packets_sent
            await wait_until(lambda: call.session.packets_sent > sent, within_s=3.0)  # music
            assert (await calling).returncode == 0
            assert (await busy.result()).returncode == 0
