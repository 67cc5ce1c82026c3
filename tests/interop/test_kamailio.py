"""kamailio as a proxy in front of dipflow (linphone calls through it): what already works."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dipflow.engine.events import CallerHungUp, PromptDone
from tests.interop import sipsak
from tests.interop.audio import sounds_like_speech, tone_wav
from tests.interop.dipflow_side import running_dipflow
from tests.interop.kamailio import Kamailio, KamailioConfig, Transport, tcp_connections
from tests.interop.linphone import Linphone, on_free_ports
from tests.interop.scenarios import chose_goodbye, menu_call_choosing_2
from tests.sip.sip_host import ScriptedHost, free_port

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("proxy_to_dipflow", ["udp", "tcp"])
async def test_call_through_a_record_routing_proxy_both_ways(
    tmp_path: Path, proxy_to_dipflow: Transport
) -> None:
    """The caller's key and dipflow's BYE both cross the proxy (the BYE by the route set)."""
    host = ScriptedHost(menu=True)
    async with running_dipflow(host) as server:
        config = KamailioConfig(listen=("127.0.0.1", free_port()), target=server.address,
                                target_transport=proxy_to_dipflow, record_route=True)  # fmt: skip
        async with Kamailio(tmp_path / "kamailio", config) as proxy:
            probe = await sipsak.options(f"sip:1000@127.0.0.1:{proxy.address[1]}")
            assert probe.returncode == 0, probe.output  # dipflow answered through the proxy
            assert "Server: dipflow" in probe.output
            source = tone_wav(tmp_path / "caller.wav", 700)
            async with Linphone(tmp_path / "caller", on_free_ports(), source_wav=source) as phone:
                call = await phone.call(f"sip:1000@127.0.0.1:{proxy.address[1]}")
                await phone.wait_connected(call)
                await asyncio.sleep(3.0)
                await phone.press("2")
                assert await phone.wait_ended(call, within_s=20) == "No error"
            log = proxy.log_text()
        await host.wait_calls(1, within_s=10)
    assert "request BYE" in log and f"from {server.address[0]}" in log  # via the proxy
    (scripted,) = host.calls
    assert scripted.branch == "2"
    assert PromptDone(prompt_id="goodbye") in scripted.events
    assert sounds_like_speech(phone.recording, 0.5, 2.9)


async def test_caller_hangs_up_behind_a_proxy_that_does_not_record_route(
    tmp_path: Path,
) -> None:
    """The ACK and the caller's BYE go end to end, to dipflow's Contact."""
    host = ScriptedHost(menu=False)
    async with running_dipflow(host) as server:
        config = KamailioConfig(listen=("127.0.0.1", free_port()), target=server.address,
                                record_route=False)  # fmt: skip
        async with Kamailio(tmp_path / "kamailio", config) as proxy:
            source = tone_wav(tmp_path / "caller.wav", 700)
            async with Linphone(tmp_path / "caller", on_free_ports(), source_wav=source) as phone:
                call = await phone.call(f"sip:1000@127.0.0.1:{proxy.address[1]}")
                await phone.wait_connected(call)
                await asyncio.sleep(3.0)
                await phone.hang_up()
                assert await phone.wait_ended(call) == "No error"
            log = proxy.log_text()
        await host.wait_calls(1, within_s=10)
    assert "request INVITE" in log
    assert "request BYE" not in log  # not through the proxy: it did not record-route
    (scripted,) = host.calls
    assert scripted.events[-1] == CallerHungUp()
    assert sounds_like_speech(phone.recording, 0.5, 2.9)


async def test_bye_reaches_the_caller_after_the_proxy_closed_the_tcp_connection(
    tmp_path: Path,
) -> None:
    """kamailio closes idle TCP connections (tcp_connection_lifetime, 120 s by default, 2 s
    here): dipflow opens a new one for its BYE (issue 12.5)."""
    host = ScriptedHost(menu=True)
    async with running_dipflow(host) as server:
        config = KamailioConfig(
            listen=("127.0.0.1", free_port()), target=server.address, target_transport="tcp",
            record_route=True, tcp_connection_lifetime_s=2,
        )  # fmt: skip

        async def until_the_proxy_closed_the_connection() -> None:
            async with asyncio.timeout(30):
                while await tcp_connections(server.address):  # noqa: ASYNC110 - another process
                    await asyncio.sleep(0.5)

        async with Kamailio(tmp_path / "kamailio", config) as proxy:
            target = f"sip:1000@127.0.0.1:{proxy.address[1]}"
            await menu_call_choosing_2(
                tmp_path, host, target, on_free_ports(),
                before_pressing=until_the_proxy_closed_the_connection,
            )  # fmt: skip
            log = proxy.log_text()
        await host.wait_calls(1, within_s=10)
    chose_goodbye(host)
    (bye,) = [line for line in log.splitlines() if "request BYE" in line]
    assert bye.endswith("(tcp)")  # ours, on the connection we opened


async def test_bye_goes_to_the_contact_behind_a_proxy_that_does_not_record_route(
    tmp_path: Path,
) -> None:
    """In-dialog requests go to the remote target when no route set names the proxy
    (issue 12.6); sent to the proxy, they got its 404."""
    host = ScriptedHost(menu=True)
    async with running_dipflow(host) as server:
        config = KamailioConfig(
            listen=("127.0.0.1", free_port()), target=server.address, record_route=False
        )
        async with Kamailio(tmp_path / "kamailio", config) as proxy:
            target = f"sip:1000@127.0.0.1:{proxy.address[1]}"
            await menu_call_choosing_2(tmp_path, host, target, on_free_ports())
            log = proxy.log_text()
        await host.wait_calls(1, within_s=10)
    chose_goodbye(host)
    assert "request BYE" not in log
