"""The mission over SIP: a caller presses 1, waits in the queue, the agent accepts on the
desktop, dipflow rings the agent's registered softphone and bridges them, and the agent's
desktop gets the pop of the caller's latest case. Real peers: sipp calls, baresip is the
agent's phone (REGISTERed with digest auth), the bundled flow runs in the runtime against
the Dataverse emulator over HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dipflow.center import ContactOffered
from dipflow.channels.sip import SipServer
from dipflow.emulator.demo_data import demo_caller
from dipflow.emulator.testing import running_emulator
from dipflow.runtime.demo import demo_config, demo_environ
from dipflow.runtime.notices import RuntimeNotice, ScreenPopReady
from dipflow.runtime.runtime import Runtime
from tests.sip.baresip_peer import Baresip, tone_wav
from tests.sip.sipp_runner import PCAPS, run_sipp, scenario

pytestmark = pytest.mark.slow


async def test_sip_caller_reaches_the_registered_agent_phone_and_the_case_pops(
    tmp_path: Path,
) -> None:
    ada = demo_caller("ada")
    sip_options = {"host": "127.0.0.1", "port": 0, "rtp_port_min": 31500, "rtp_port_max": 31900}
    with running_emulator(seed="demo", require_auth=True) as crm:
        config = demo_config(emulator=crm, tts="espeak", web_port=0, sip=sip_options)
        assert config.sip is not None
        runtime = await Runtime.create(config, environ=demo_environ(crm))
        await runtime.start()
        server = SipServer(config.sip, host=runtime, prompts=runtime.prompts)
        await server.start()
        pops: list[ScreenPopReady] = []
        accepts: list[asyncio.Task[bool]] = []

        def on_notice(notice: RuntimeNotice) -> None:
            if isinstance(notice, ScreenPopReady):
                pops.append(notice)

        def on_center(note: object) -> None:
            # What the desktop does when agent1 clicks Accept on the offer.
            if isinstance(note, ContactOffered) and note.agent_id == "agent1":
                accepts.append(asyncio.ensure_future(runtime.agent_accept("agent1", note.call_id)))

        runtime.subscribe(on_notice)
        runtime.center.subscribe(on_center)
        try:
            port = server.address[1]
            account = f"<sip:agent1@127.0.0.1:{port}>;auth_pass=agent1;regint=60;answermode=auto"
            tone = tone_wav(tmp_path / "agent.wav", 1000)
            async with Baresip(tmp_path / "agent", account=account, source_wav=tone) as phone:
                loop = asyncio.get_running_loop()
                async with asyncio.timeout(15):  # the demo registrar knows agent1/agent1
                    while server.ua.registrar.lookup("agent1", loop.time()) is None:  # noqa: ASYNC110
                        await asyncio.sleep(0.1)
                await runtime.center.login("agent1")
                await runtime.center.set_available("agent1")
                xml = scenario("uac_digit_until_bye.xml", tmp_path, CALLER_NUMBER=ada.ani,
                               DTMF_PCAP_FILE=str(PCAPS / "dtmf_2833_1.pcap"))  # fmt: skip
                caller = asyncio.create_task(
                    run_sipp(xml, server.address, service="18005550100", timeout_s=150)
                )
                await phone.wait_event("CALL_ESTABLISHED", within_s=120)
                await asyncio.sleep(3.0)  # agent and caller talk
                await phone.command("hangup")  # the agent ends the call: both legs end
                result = await caller
        finally:
            await server.stop()
            await runtime.stop()
    assert result.returncode == 0, result.output[-3000:]
    assert [task.result() for task in accepts] == [True]
    (pop,) = pops
    assert pop.agent_id == "agent1"
    assert f"id={ada.latest_case_id}" in pop.url
    assert "etn=incident" in pop.url
    (summary,) = runtime.recent_calls()
    assert summary.channel == "sip"
    assert summary.agent_id == "agent1"
    assert "QueueContact" in summary.path
    by_activity = {t["activity"]: t for t in summary.trace}
    assert by_activity["MainMenu"]["output_taken"] == "1"
