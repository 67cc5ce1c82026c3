"""linphone (linphonec) against dipflow on loopback: what already works with it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from dipflow.channels.seam import AgentEndpoint
from dipflow.channels.sip import SipServer
from dipflow.engine.events import CallerHungUp, DigitsCollected, PromptDone
from tests.interop.audio import noise_wav, sounds_like_speech, sox_duration, sox_stat, tone_wav
from tests.interop.dipflow_side import running_dipflow
from tests.interop.linphone import DigitMode, Linphone, Registration, Transport, on_free_ports
from tests.interop.scenarios import chose_goodbye, menu_call_choosing_2
from tests.sip.sip_host import ScriptedHost

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_linphone_caller_hears_the_greeting_and_chooses_with_a_key(
    tmp_path: Path, transport: Transport
) -> None:
    """Greeting heard, RFC 4733 "2" takes the goodbye branch, dipflow's BYE ends the call."""
    host = ScriptedHost(menu=True)
    async with running_dipflow(host) as server:
        port = server.address[1]
        source = tone_wav(tmp_path / "caller.wav", 700)
        async with Linphone(tmp_path / "caller", on_free_ports(), source_wav=source) as phone:
            call = await phone.call(f"sip:1000@127.0.0.1:{port};transport={transport}")
            await phone.wait_connected(call)
            await asyncio.sleep(3.0)  # hear the greeting
            await phone.press("2")
            assert await phone.wait_ended(call, within_s=20) == "No error"
        await host.wait_calls(1, within_s=10)
    (scripted,) = host.calls
    assert scripted.branch == "2"
    assert DigitsCollected(digits="2") in scripted.events
    assert PromptDone(prompt_id="goodbye") in scripted.events
    assert sounds_like_speech(phone.recording, 0.5, 2.9)


async def _registered(server: SipServer, user: str) -> None:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(15):
        while server.ua.registrar.lookup(user, loop.time()) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def test_agent_registered_from_linphone_is_bridged_to_a_linphone_caller(
    tmp_path: Path,
) -> None:
    agent = AgentEndpoint(agent_id="a1", display_name="Agent One", sip_uri="sip:agent1@dipflow")
    host = ScriptedHost(menu=False, agent=agent, agent_delay_s=0.5)
    users = {"agent1": SecretStr("agent-secret")}
    async with running_dipflow(host, registrar_users=users) as server:
        port = server.address[1]
        registration = Registration(("127.0.0.1", port), "agent1", "agent-secret")
        agent_config = on_free_ports(registration=registration, auto_answer=True)
        agent_tone = tone_wav(tmp_path / "agent.wav", 1000)
        caller_tone = tone_wav(tmp_path / "caller.wav", 600)
        async with Linphone(tmp_path / "agent", agent_config, source_wav=agent_tone) as agent_phone:
            await agent_phone.wait_registered()
            await _registered(server, "agent1")
            async with Linphone(
                tmp_path / "caller", on_free_ports(), source_wav=caller_tone
            ) as caller_phone:
                call = await caller_phone.call(f"sip:1000@127.0.0.1:{port}")
                await caller_phone.wait_connected(call)
                leg = await agent_phone.wait_incoming(within_s=30)
                await agent_phone.wait_connected(leg)
                await asyncio.sleep(4.0)  # talk
                # Two linphones, one codec, plain RTP: the kernel relays them (CI is root).
                relayed_legs = server.stats().get("kernel_relayed_legs", 0)
                await caller_phone.hang_up()
                await caller_phone.wait_ended(call)
                await agent_phone.wait_ended(leg)  # the caller's hang-up ends the agent's leg
        await host.wait_calls(1, within_s=10)
    (scripted,) = host.calls
    assert scripted.agent_connected is True
    assert scripted.events[-1] == CallerHungUp()
    assert relayed_legs == 2
    caller_heard, agent_heard = caller_phone.recording, agent_phone.recording
    caller_end, agent_end = sox_duration(caller_heard), sox_duration(agent_heard)
    assert agent_end > 3.0
    caller_hears = sox_stat(caller_heard, caller_end - 3.0, caller_end - 0.5)
    agent_hears = sox_stat(agent_heard, agent_end - 3.0, agent_end - 0.5)
    assert abs(caller_hears["Rough frequency"] - 1000) < 60, caller_hears
    assert abs(agent_hears["Rough frequency"] - 600) < 40, agent_hears
    assert caller_hears["RMS amplitude"] > 0.05, caller_hears
    assert agent_hears["RMS amplitude"] > 0.05, agent_hears


async def test_late_offer_call_is_answered_and_heard(tmp_path: Path) -> None:
    """linphone's sdp_200_ack: INVITE without SDP, our offer in the 200, its answer in the
    ACK (issue 12.2)."""
    host = ScriptedHost(menu=True)
    async with running_dipflow(host) as server:
        target = f"sip:1000@127.0.0.1:{server.address[1]}"
        phone = await menu_call_choosing_2(tmp_path, host, target, on_free_ports(late_offer=True))
        await host.wait_calls(1, within_s=10)
    chose_goodbye(host)
    assert sounds_like_speech(phone.recording, 0.5, 2.9)


async def test_sip_info_digits_choose_the_branch(tmp_path: Path) -> None:
    """linphone's use_info: keys as INFO application/dtmf-relay, no telephone-event offered
    (issue 12.3)."""
    host = ScriptedHost(menu=True)
    async with running_dipflow(host) as server:
        target = f"sip:1000@127.0.0.1:{server.address[1]}"
        config = on_free_ports(digits=DigitMode.SIP_INFO)
        await menu_call_choosing_2(tmp_path, host, target, config)
        await host.wait_calls(1, within_s=10)
    chose_goodbye(host)


async def test_in_band_digits_choose_the_branch(tmp_path: Path) -> None:
    """linphone with neither RFC 4733 nor INFO: keys as tones in its audio, over a room's
    hiss (issue 12.4). Not over a tone near the keys' frequencies: the 700 Hz tone the
    other tests play sits 3 Hz from 697 Hz, the low tone of 1, 2 and 3."""
    host = ScriptedHost(menu=True)
    async with running_dipflow(host) as server:
        target = f"sip:1000@127.0.0.1:{server.address[1]}"
        config = on_free_ports(digits=DigitMode.INBAND)
        room = noise_wav(tmp_path / "room.wav")
        await menu_call_choosing_2(tmp_path, host, target, config, microphone=room)
        await host.wait_calls(1, within_s=10)
    chose_goodbye(host)
