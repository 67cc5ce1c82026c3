"""Phones behind a NAT (network namespaces, nftables masquerade with random ports): RTP
latching (issue 12.1). Needs root."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from dipflow.channels.seam import AgentEndpoint
from tests.interop.audio import sounds_like_speech, sox_duration, sox_stat, tone_wav
from tests.interop.dipflow_side import running_dipflow
from tests.interop.linphone import Linphone, Registration, on_free_ports
from tests.interop.nat import NatNetwork
from tests.interop.scenarios import chose_goodbye, menu_call_choosing_2
from tests.sip.sip_host import ScriptedHost

pytestmark = pytest.mark.slow


async def test_caller_behind_nat_hears_and_is_heard(tmp_path: Path) -> None:
    host = ScriptedHost(menu=True)
    with NatNetwork() as nat:
        async with running_dipflow(host, bind=nat.dipflow_address) as server:
            config = on_free_ports(bind_address=nat.peer_address)
            target = f"sip:1000@{nat.dipflow_address}:{server.address[1]}"
            phone = await menu_call_choosing_2(tmp_path, host, target, config, wrap=nat.wrap)
            await host.wait_calls(1, within_s=10)
    chose_goodbye(host)  # its RFC 4733 digit reached dipflow through the NAT
    assert sounds_like_speech(phone.recording, 0.5, 2.9)  # dipflow's audio reached it


async def test_agent_behind_nat_is_bridged_both_ways(tmp_path: Path) -> None:
    """A home agent registered directly with dipflow, from behind a NAT."""
    agent = AgentEndpoint(agent_id="a1", display_name="Agent One", sip_uri="sip:agent1@dipflow")
    host = ScriptedHost(menu=False, agent=agent, agent_delay_s=0.5)
    users = {"agent1": SecretStr("agent-secret")}
    with NatNetwork() as nat:
        async with running_dipflow(host, bind=nat.dipflow_address, registrar_users=users) as server:
            port = server.address[1]
            registration = Registration((nat.dipflow_address, port), "agent1", "agent-secret")
            agent_config = on_free_ports(
                bind_address=nat.peer_address, registration=registration, auto_answer=True
            )
            agent_tone = tone_wav(tmp_path / "agent.wav", 1000)
            caller_tone = tone_wav(tmp_path / "caller.wav", 600)
            async with Linphone(
                tmp_path / "agent", agent_config, source_wav=agent_tone, wrap=nat.wrap
            ) as agent_phone:
                await agent_phone.wait_registered()
                caller_config = on_free_ports(bind_address=nat.dipflow_address)
                async with Linphone(
                    tmp_path / "caller", caller_config, source_wav=caller_tone
                ) as caller_phone:
                    call = await caller_phone.call(f"sip:1000@{nat.dipflow_address}:{port}")
                    await caller_phone.wait_connected(call)
                    leg = await agent_phone.wait_incoming(within_s=30)
                    await agent_phone.wait_connected(leg)
                    await asyncio.sleep(4.0)
                    await caller_phone.hang_up()
                    await caller_phone.wait_ended(call)
                    await agent_phone.wait_ended(leg)
            await host.wait_calls(1, within_s=10)
    (scripted,) = host.calls
    assert scripted.agent_connected is True
    caller_heard, agent_heard = caller_phone.recording, agent_phone.recording
    caller_end, agent_end = sox_duration(caller_heard), sox_duration(agent_heard)
    caller_hears = sox_stat(caller_heard, caller_end - 3.0, caller_end - 0.5)
    agent_hears = sox_stat(agent_heard, agent_end - 3.0, agent_end - 0.5)
    assert abs(caller_hears["Rough frequency"] - 1000) < 60, caller_hears
    assert abs(agent_hears["Rough frequency"] - 600) < 40, agent_hears
    assert caller_hears["RMS amplitude"] > 0.05, caller_hears
    assert agent_hears["RMS amplitude"] > 0.05, agent_hears
