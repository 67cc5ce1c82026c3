"""Real peer: baresip as a caller (records what it hears) and as an auto-answering agent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from dipflow.channels.seam import AgentEndpoint
from dipflow.channels.sip import SipServer
from dipflow.engine.events import AgentDisconnected, CallerHungUp, PromptDone
from tests.interop.audio import sox_duration, sox_stat
from tests.sip.baresip_peer import Baresip, tone_wav
from tests.sip.sip_host import GREETING, ScriptedHost, running_server, shared_prompts

pytestmark = pytest.mark.slow


def greeting_seconds() -> float:
    return shared_prompts().render_text(GREETING, language="en-US", voice=None).duration_s


async def test_baresip_caller_hears_the_greeting_then_music(tmp_path: Path) -> None:
    host = ScriptedHost(menu=False)
    greeting = greeting_seconds()
    source = tone_wav(tmp_path / "caller.wav", 600)
    async with running_server(host) as server:
        account = "<sip:caller@127.0.0.1>;regint=0"
        async with Baresip(tmp_path / "caller", account=account, source_wav=source) as phone:
            await phone.command("dial", f"sip:1000@127.0.0.1:{server.address[1]}")
            await phone.wait_event("CALL_ESTABLISHED")
            await asyncio.sleep(greeting + 4.0)
            await phone.command("hangup")
            await phone.wait_event("CALL_CLOSED")
            recording = phone.recording()
        await host.wait_calls(1, within_s=10)
    (call,) = host.calls
    assert PromptDone(prompt_id="greeting") in call.events
    assert call.events[-1] == CallerHungUp()

    assert sox_duration(recording) >= greeting + 3.0
    speech = sox_stat(recording, 0.3, greeting - 0.3)
    assert speech["RMS amplitude"] > 0.03  # the greeting is there, at a sane level
    assert speech["Maximum amplitude"] < 0.99  # and not clipped
    # Speech has pauses between sentences; the music that follows has none.
    windows = [sox_stat(recording, t, t + 0.2)["RMS amplitude"]
               for t in [i * 0.2 for i in range(int((greeting - 0.4) / 0.2))]]  # fmt: skip
    assert min(windows) < 0.01, windows
    for second in range(int(greeting + 0.5), int(greeting + 3.0)):
        music = sox_stat(recording, second, second + 1.0)
        assert music["RMS amplitude"] > 0.02, (second, music)


async def _registered(server: SipServer, user: str) -> None:
    """Until the agent's softphone has REGISTERed (digest auth) with dipflow."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(15):
        while server.ua.registrar.lookup(user, loop.time()) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    ("who_hangs_up", "caller_codec", "agent_codec", "media_mode"),
    [
        ("caller", "PCMU", "PCMU", "inline"),
        ("agent", "PCMU", "PCMU", "inline"),
        ("caller", "PCMA", "PCMU", "inline"),
        ("agent", "PCMA", "PCMU", "process"),
        ("caller", "PCMU", "PCMU", "process"),
    ],
)
async def test_baresip_agent_is_bridged_both_ways(
    tmp_path: Path, who_hangs_up: str, caller_codec: str, agent_codec: str, media_mode: str
) -> None:
    """The PCMA cases make the relay transcode A-law (caller) <-> µ-law (agent); the last
    two relay in the media worker (both legs are its sessions), and the last one, where
    nothing needs transcoding, in the kernel (kernel_relay.py: CI runs as root)."""
    agent = AgentEndpoint(agent_id="a1", display_name="Agent One", sip_uri="sip:agent1@dipflow")
    host = ScriptedHost(menu=False, agent=agent, agent_delay_s=0.5)
    caller_tone = tone_wav(tmp_path / "caller.wav", 600)
    agent_tone = tone_wav(tmp_path / "agent.wav", 1000)
    users = {"agent1": SecretStr("agent-secret")}
    async with running_server(host, registrar_users=users, media_mode=media_mode) as server:
        port = server.address[1]
        agent_account = (
            f"<sip:agent1@127.0.0.1:{port}>;auth_pass=agent-secret;regint=60;answermode=auto"
            f";audio_codecs={agent_codec}"
        )
        agent_phone_ctx = Baresip(tmp_path / "agent", account=agent_account, source_wav=agent_tone)
        async with agent_phone_ctx as agent_phone:
            await _registered(server, "agent1")
            caller_account = f"<sip:caller@127.0.0.1>;regint=0;audio_codecs={caller_codec}"
            async with Baresip(tmp_path / "caller", account=caller_account,
                               source_wav=caller_tone) as caller_phone:  # fmt: skip
                await caller_phone.command("dial", f"sip:1000@127.0.0.1:{port}")
                await caller_phone.wait_event("CALL_ESTABLISHED")
                await agent_phone.wait_event("CALL_ESTABLISHED", within_s=greeting_seconds() + 10)
                await asyncio.sleep(4.0)  # talk
                relayed_legs = server.stats().get("kernel_relayed_legs", 0)
                hanging, other = (
                    (caller_phone, agent_phone) if who_hangs_up == "caller"
                    else (agent_phone, caller_phone)
                )  # fmt: skip
                await hanging.command("hangup")
                await other.wait_event("CALL_CLOSED")  # either side ends both legs
                heard_by_caller = caller_phone.recording()
                heard_by_agent = agent_phone.recording()
                # Each leg really runs its own codec (so the relay transcodes when they differ).
                assert f"Set audio encoder: {caller_codec}" in caller_phone.log.read_text()
                assert f"Set audio encoder: {agent_codec}" in agent_phone.log.read_text()
        await host.wait_calls(1, within_s=10)
    (call,) = host.calls
    assert call.agent_connected is True
    in_kernel = media_mode == "process" and caller_codec == agent_codec
    assert relayed_legs == (2 if in_kernel else 0)
    expected_last = CallerHungUp() if who_hangs_up == "caller" else AgentDisconnected(agent_id="a1")
    assert call.events[-1] == expected_last

    # The last seconds before the hang-up: each side hears the other's tone (relayed RTP).
    caller_end = sox_duration(heard_by_caller)
    agent_end = sox_duration(heard_by_agent)
    assert agent_end > 3.0
    caller_hears = sox_stat(heard_by_caller, caller_end - 3.0, caller_end - 0.5)
    agent_hears = sox_stat(heard_by_agent, agent_end - 3.0, agent_end - 0.5)
    assert abs(caller_hears["Rough frequency"] - 1000) < 60, caller_hears
    assert abs(agent_hears["Rough frequency"] - 600) < 40, agent_hears
    assert caller_hears["RMS amplitude"] > 0.1
    assert agent_hears["RMS amplitude"] > 0.1


async def test_agent_who_does_not_answer_is_cancelled(tmp_path: Path) -> None:
    agent = AgentEndpoint(agent_id="a1", display_name="Agent One", sip_uri="sip:agent1@dipflow")
    host = ScriptedHost(menu=False, agent=agent, agent_delay_s=0.0)
    users = {"agent1": SecretStr("agent-secret")}
    tone = tone_wav(tmp_path / "tone.wav", 800)
    async with running_server(host, registrar_users=users, agent_ring_timeout_s=2.0) as server:
        port = server.address[1]
        agent_account = f"<sip:agent1@127.0.0.1:{port}>;auth_pass=agent-secret;regint=60"
        async with Baresip(tmp_path / "agent", account=agent_account, source_wav=tone) as phone:
            await _registered(server, "agent1")
            async with Baresip(tmp_path / "caller", account="<sip:caller@127.0.0.1>;regint=0",
                               source_wav=tone) as caller_phone:  # fmt: skip
                await caller_phone.command("dial", f"sip:1000@127.0.0.1:{port}")
                await phone.wait_event("CALL_INCOMING", within_s=greeting_seconds() + 10)
                await phone.wait_event("CALL_CLOSED", within_s=10)  # our CANCEL after 2 s
                call = host.calls[0]
                async with asyncio.timeout(5):
                    while call.agent_connected is None:  # noqa: ASYNC110
                        await asyncio.sleep(0.1)
                assert call.agent_connected is False
                assert server.calls  # the caller is still connected (back to music)
                await caller_phone.command("hangup")
                await caller_phone.wait_event("CALL_CLOSED")
        await host.wait_calls(1, within_s=10)
