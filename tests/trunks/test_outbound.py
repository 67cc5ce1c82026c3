"""Calls out through a trunk to real peers (sipp as the carrier and callee): a callback
with the caller id the flow sets, a digest challenge answered, DNS SRV failover on 503."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from dipflow.channels.seam import AgentEndpoint, MediaQuality
from dipflow.channels.sip.call import SipCall
from dipflow.channels.sip.outbound import NotAnswered
from dipflow.channels.sip.trunkconfig import (
    Credentials,
    IpTrustAuth,
    TrunkServer,
    TrunkSettings,
)
from dipflow.engine.commands import Disconnect, Play
from dipflow.engine.events import Event, PromptDone
from tests.runtime.sim_calls import wait_until
from tests.sip.sip_host import ScriptedHost, running_server
from tests.trunks.dnsmasq import dnsmasq
from tests.trunks.sipp import SippServer, scenario, sipp

pytestmark = pytest.mark.slow

CALLER_ID = "+4930123456"
TRUNK_CALLER = {"CALLER_ID": re.escape("+4930999999"), "ACCOUNT": "acct", "PASSWORD": "pw"}
"""The carrier expects the trunk's own caller id when the flow sets none."""


class Handle:
    """The runtime's side of the call, reduced to collecting events."""

    call_id = "callback"

    def __init__(self) -> None:
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.media: tuple[MediaQuality, ...] = ()

    def post(self, event: Event) -> None:
        self.events.put_nowait(event)

    def report_media(self, quality: tuple[MediaQuality, ...]) -> None:
        self.media = quality


def carrier(host: str, port: int | None = None) -> TrunkSettings:
    return TrunkSettings(
        name="carrier",
        servers=(TrunkServer(host=host, port=port, transport="udp" if port else None),),
        auth=IpTrustAuth(
            addresses=("127.0.0.1",),
            credentials=Credentials(username="acct", password=SecretStr("pw")),
        ),
        caller_id="+4930999999",
    )  # fmt: skip


async def speak_and_hang_up(call: SipCall) -> None:
    handle = Handle()
    call.attach(handle)  # type: ignore[arg-type]
    await call.execute(Play(prompt_id="hello", text="This is your callback."))
    async with asyncio.timeout(20):
        while (await handle.events.get()) != PromptDone(prompt_id="hello"):
            pass
    # The prompt went out as RTP (> 1 s); a media worker's counters come with its next report.
    await wait_until(lambda: call.session.packets_sent > 50, within_s=3.0)
    await call.execute(Disconnect())


async def test_callback_with_caller_id_and_digest(tmp_path: Path) -> None:
    uas_xml = scenario("uas_challenge_answer.xml", tmp_path, CALLER_ID=re.escape(CALLER_ID),
                       ACCOUNT="acct", PASSWORD="pw")  # fmt: skip
    async with (
        SippServer(uas_xml) as uas,
        running_server(ScriptedHost(), trunks=(carrier("127.0.0.1", uas.port),)) as server,
    ):
        call = await server.originate("+15551230000", caller_id=CALLER_ID)
        assert isinstance(call, SipCall), call
        assert call.ani == "+15551230000"
        assert call.session.codec.name == "PCMA"  # the callee's choice
        await speak_and_hang_up(call)
        result = await uas.result()
    assert result.returncode == 0, result.output[-3000:] + uas.messages()[-3000:]
    messages = uas.messages()
    assert "INVITE sip:+15551230000@127.0.0.1" in messages
    assert 'Authorization: Digest username="acct"' in messages
    assert server.calls == {}


async def test_wrong_password_is_not_answered(tmp_path: Path) -> None:
    uas_xml = scenario("uas_challenge_answer.xml", tmp_path, CALLER_ID=re.escape(CALLER_ID),
                       ACCOUNT="acct", PASSWORD="other")  # fmt: skip
    async with (
        SippServer(uas_xml) as uas,
        running_server(ScriptedHost(), trunks=(carrier("127.0.0.1", uas.port),)) as server,
    ):
        outcome = await server.originate("+15551230000", caller_id=CALLER_ID)
        await uas.result()
    assert outcome == NotAnswered(status=403, reason="refused with 403")


async def test_srv_failover_on_503(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    busy_xml = scenario("uas_unavailable.xml", tmp_path / "a")
    good_xml = scenario("uas_challenge_answer.xml", tmp_path / "b", **TRUNK_CALLER)
    async with SippServer(busy_xml) as busy, SippServer(good_xml) as good:
        records = [
            f"--srv-host=_sip._udp.carrier.test,edge1.carrier.test,{busy.port},10,100",
            f"--srv-host=_sip._udp.carrier.test,edge2.carrier.test,{good.port},20,100",
            "--host-record=edge1.carrier.test,127.0.0.1",
            "--host-record=edge2.carrier.test,127.0.0.1",
        ]
        async with (
            dnsmasq(records, tmp_path) as dns_port,
            running_server(ScriptedHost(), trunks=(carrier("carrier.test"),),
                           dns_servers=(f"127.0.0.1:{dns_port}",)) as server,
        ):  # fmt: skip
            # No caller id from the flow: the trunk's is presented.
            call = await server.originate("tel:+15551230000;trunk=carrier")
            assert isinstance(call, SipCall), call
            await speak_and_hang_up(call)
            assert (await busy.result()).returncode == 0
            result = await good.result()
    assert result.returncode == 0, result.output[-3000:] + good.messages()[-3000:]
    assert "INVITE sip:+15551230000@carrier.test" in good.messages()


async def test_agent_on_an_external_number(tmp_path: Path) -> None:
    """An agent whose endpoint is a phone number is rung through the trunk (with the
    trunk's caller id) and bridged; the customer's hang-up ends the agent's leg (BYE)."""
    (tmp_path / "agent").mkdir()
    agent_xml = scenario("uas_challenge_answer.xml", tmp_path / "agent", **TRUNK_CALLER)
    agent = AgentEndpoint(agent_id="a1", display_name="Remote", sip_uri="+15559876543")
    host = ScriptedHost(numbers=("1000",), agent=agent, menu=False, agent_delay_s=0.2)
    async with (
        SippServer(agent_xml) as phone,
        running_server(host, trunks=(carrier("127.0.0.1", phone.port),)) as server,
    ):
        caller_xml = scenario("uac_answered.xml", tmp_path, DOMAIN="dipflow.test",
                              PAUSE_MS="9000")  # fmt: skip
        result = await sipp(caller_xml, server.address, service="1000", timeout_s=30)
        assert result.returncode == 0, result.output[-3000:]
        await host.wait_calls(1, within_s=10)
        agent_result = await phone.result()
    assert host.calls[0].agent_connected is True
    assert agent_result.returncode == 0, agent_result.output[-3000:] + phone.messages()[-3000:]
    assert "INVITE sip:+15559876543@127.0.0.1" in phone.messages()
