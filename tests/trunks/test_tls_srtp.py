"""Secure calls with a real peer: baresip over SIP/TLS with SDES-keyed SRTP, as caller and
as a registered agent. The call is set up, a DTMF key picks the menu branch, both legs
hear each other's tone, and none of the RTP on the wire is plain G.711."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from dipflow.channels.seam import AgentEndpoint
from dipflow.channels.sip import SipServer
from dipflow.channels.sip.tls import self_signed
from dipflow.channels.sip.trunkconfig import TlsListener
from dipflow.engine.events import CallerHungUp, DigitsCollected
from tests.sip.baresip_peer import tone_wav
from tests.sip.sip_host import ScriptedHost, running_server
from tests.sip.test_sip_baresip import sox_duration, sox_stat
from tests.trunks.linphone_pty import LinphoneTls
from tests.trunks.secure_baresip import SecureBaresip, WireTap, audio_payloads, byte_entropy

pytestmark = pytest.mark.slow


async def _registered(server: SipServer, user: str) -> None:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(15):
        while server.ua.registrar.lookup(user, loop.time()) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    self_signed(cert, key, names=("127.0.0.1", "localhost"))
    return cert, key


async def test_baresip_tls_srtp_caller_and_agent(tmp_path: Path) -> None:
    cert, key = certificate(tmp_path)
    tls = TlsListener(port=0, cert_file=str(cert), key_file=str(key), srtp="mandatory")
    agent = AgentEndpoint(agent_id="a1", display_name="Agent One", sip_uri="sip:agent1@dipflow")
    host = ScriptedHost(menu=True, agent=agent, agent_delay_s=0.5)
    caller_tone = tone_wav(tmp_path / "caller.wav", 600)
    agent_tone = tone_wav(tmp_path / "agent.wav", 1000)
    tap = WireTap()
    try:
        async with running_server(
            host, tls=tls, registrar_users={"agent1": SecretStr("agent-secret")},
            transports=("udp",), media_mode="inline",  # the wire tap patches this process
        ) as server:  # fmt: skip
            port = server.ua.tls_port
            assert port is not None
            agent_account = (
                f"<sip:agent1@127.0.0.1:{port};transport=tls>;auth_pass=agent-secret;regint=60"
                ";answermode=auto;mediaenc=srtp-mand"
            )
            agent_side = SecureBaresip(
                tmp_path / "agent", account=agent_account, source_wav=agent_tone, ca_file=cert
            )
            async with agent_side as agent_phone:
                await _registered(server, "agent1")
                caller_account = "<sip:caller@127.0.0.1;transport=tls>;regint=0;mediaenc=srtp-mand"
                caller_side = SecureBaresip(
                    tmp_path / "caller", account=caller_account, source_wav=caller_tone,
                    ca_file=cert,
                )  # fmt: skip
                async with caller_side as caller:
                    await caller.command("dial", f"sip:1000@127.0.0.1:{port};transport=tls")
                    await caller.wait_event("CALL_ESTABLISHED")
                    await asyncio.sleep(1.5)
                    await caller.command("sndcode", "1")  # the menu: "1" for an agent
                    await agent_phone.wait_event("CALL_ESTABLISHED", within_s=20)
                    await asyncio.sleep(4.0)  # talk
                    await caller.command("hangup")
                    await agent_phone.wait_event("CALL_CLOSED")
                    heard_by_caller = caller.recording()
                    heard_by_agent = agent_phone.recording()
                    caller_log = caller.log.read_text(errors="replace")
                    agent_log = agent_phone.log.read_text(errors="replace")
            await host.wait_calls(1, within_s=10)
    finally:
        tap.restore()
    (call,) = host.calls
    assert DigitsCollected(digits="1") in call.events  # RFC 4733 inside SRTP
    assert call.branch == "1" and call.agent_connected is True
    assert call.events[-1] == CallerHungUp()
    for log in (caller_log, agent_log):
        assert "SRTP is Enabled" in log, log[-2000:]

    # Both legs' tones came through (decrypted by dipflow, relayed, encrypted again).
    caller_end, agent_end = sox_duration(heard_by_caller), sox_duration(heard_by_agent)
    caller_hears = sox_stat(heard_by_caller, caller_end - 3.0, caller_end - 0.5)
    agent_hears = sox_stat(heard_by_agent, agent_end - 3.0, agent_end - 0.5)
    assert abs(caller_hears["Rough frequency"] - 1000) < 60, caller_hears
    assert abs(agent_hears["Rough frequency"] - 600) < 40, agent_hears
    assert caller_hears["RMS amplitude"] > 0.1 and agent_hears["RMS amplitude"] > 0.1

    # On the wire: every audio payload carries an authentication tag (not 160 bytes of
    # G.711) and looks like ciphertext; plain G.711 of a tone, speech or comfort silence
    # uses a few byte values only.
    assert_ciphertext(tap)


def assert_ciphertext(tap: WireTap) -> None:
    for captured in (tap.received, tap.sent):
        payloads = audio_payloads(captured)
        assert len(payloads) > 200
        assert all(len(p) != 160 for p in payloads)
        assert byte_entropy(payloads) > 7.9, byte_entropy(payloads)


async def test_linphone_tls_srtp_caller_bridged_to_a_baresip_agent(tmp_path: Path) -> None:
    """linphone calls over TLS with mandatory SRTP, presses 1 (RFC 4733 inside SRTP), and
    is bridged to an agent's baresip (TLS + SRTP too): each hears the other's tone."""
    cert, key = certificate(tmp_path)
    tls = TlsListener(port=0, cert_file=str(cert), key_file=str(key), srtp="mandatory")
    agent = AgentEndpoint(agent_id="a1", display_name="Agent One", sip_uri="sip:agent1@dipflow")
    host = ScriptedHost(menu=True, agent=agent, agent_delay_s=0.5)
    caller_tone = tone_wav(tmp_path / "caller.wav", 600)
    agent_tone = tone_wav(tmp_path / "agent.wav", 1000)
    tap = WireTap()
    try:
        async with running_server(
            host, tls=tls, registrar_users={"agent1": SecretStr("agent-secret")},
            media_mode="inline",  # the wire tap patches this process's sessions
        ) as server:  # fmt: skip
            port = server.ua.tls_port
            agent_account = (
                f"<sip:agent1@127.0.0.1:{port};transport=tls>;auth_pass=agent-secret;regint=60"
                ";answermode=auto;mediaenc=srtp-mand"
            )
            agent_side = SecureBaresip(
                tmp_path / "agent", account=agent_account, source_wav=agent_tone, ca_file=cert
            )
            async with agent_side as agent_phone:
                await _registered(server, "agent1")
                async with LinphoneTls(tmp_path / "linphone", source_wav=caller_tone) as caller:
                    await caller.send(f"call sip:1000@127.0.0.1:{port};transport=tls")
                    await caller.wait_for("connected.")
                    await asyncio.sleep(1.5)
                    await caller.send("1")  # a digit typed during a call is sent as DTMF
                    await agent_phone.wait_event("CALL_ESTABLISHED", within_s=20)
                    await asyncio.sleep(4.0)
                    await caller.send("terminate")
                    await agent_phone.wait_event("CALL_CLOSED")
                heard_by_agent = agent_phone.recording()
            await host.wait_calls(1, within_s=10)
        linphone_log = (tmp_path / "linphone" / "linphone.log").read_text(errors="replace")
    finally:
        tap.restore()
    (call,) = host.calls
    assert DigitsCollected(digits="1") in call.events
    assert call.branch == "1" and call.agent_connected is True
    assert "Negotiated media encryption is LinphoneMediaEncryptionSRTP" in linphone_log
    heard_by_caller = tmp_path / "linphone" / "heard.wav"
    caller_end, agent_end = sox_duration(heard_by_caller), sox_duration(heard_by_agent)
    caller_hears = sox_stat(heard_by_caller, caller_end - 3.0, caller_end - 0.5)
    agent_hears = sox_stat(heard_by_agent, agent_end - 3.0, agent_end - 0.5)
    assert abs(caller_hears["Rough frequency"] - 1000) < 60, caller_hears
    assert abs(agent_hears["Rough frequency"] - 600) < 40, agent_hears
    assert_ciphertext(tap)
