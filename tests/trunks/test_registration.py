"""dipflow registers to kamailio acting as a provider's registrar: digest, refresh before
expiry, failover to the second server when the first stops; calls routed by the
registrar to dipflow's binding reach the flow."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from dipflow.channels.sip import SipServer
from dipflow.channels.sip.registration import RegistrationState, RegistrationStatus
from dipflow.channels.sip.trunkconfig import RegistrationAuth, TrunkServer, TrunkSettings
from tests.sip.sip_host import ScriptedHost, free_port, running_server
from tests.trunks.kamailio import Kamailio
from tests.trunks.sipp import scenario, sipp

pytestmark = pytest.mark.slow

DOMAIN = "carrier.test"
DID = "+4930123456"


def trunk(ports: tuple[int, ...], password: str = "s3cret") -> TrunkSettings:
    return TrunkSettings(
        name="carrier",
        servers=tuple(TrunkServer(host="127.0.0.1", port=p, transport="udp") for p in ports),
        auth=RegistrationAuth(
            username="4930123456", password=SecretStr(password), domain=DOMAIN, expires_s=600,
            retry_min_s=0.5,
        ),
        dids=(DID,),
    )  # fmt: skip


def status(server: SipServer) -> RegistrationStatus:
    (only,) = server.trunking.registration_status()
    return only


async def wait_for(
    server: SipServer, check: Callable[[RegistrationStatus], bool], within_s: float
) -> RegistrationStatus:
    (registration,) = server.trunking.registrations
    try:
        async with asyncio.timeout(within_s):
            while not check(registration.status):
                registration.changed.clear()
                await registration.changed.wait()
    except TimeoutError:
        raise AssertionError(f"registration still {status(server)}") from None
    return status(server)


async def test_register_refresh_and_failover(tmp_path: Path) -> None:
    primary_port, secondary_port = free_port(), free_port()
    host = ScriptedHost(numbers=(DID,), menu=False)
    account = {"domain": DOMAIN, "username": "4930123456", "password": "s3cret"}
    async with (
        Kamailio(tmp_path / "a", port=primary_port, max_expires=10, **account) as primary,
        Kamailio(tmp_path / "b", port=secondary_port, max_expires=10, **account) as secondary,
        # T1 = 100 ms: a REGISTER to a dead server times out after 64*T1 = 6.4 s.
        running_server(host, trunks=(trunk((primary_port, secondary_port)),), t1_s=0.1) as server,
    ):
        first = await wait_for(server, lambda s: s.state is RegistrationState.REGISTERED, 10)
        assert first.server == f"127.0.0.1:{primary_port}/udp"
        assert len(primary.registers()) == 1
        assert "expires=600" in primary.registers()[0]  # asked 600, kamailio grants 10
        # Refreshed before the 10 s binding runs out (at 5 s: at least 5 s early).
        await wait_for(server, lambda s: s.registrations >= 2, 8)
        assert len(primary.registers()) == 2
        assert status(server).state is RegistrationState.REGISTERED

        # The registrar routes a call for the DID to dipflow's binding.
        call = scenario("uac_answered.xml", tmp_path, DOMAIN=DOMAIN, PAUSE_MS="2000")
        result = await sipp(call, ("127.0.0.1", primary_port), service=DID)
        assert result.returncode == 0, result.output[-3000:] + primary.text()[-2000:]

        # The primary goes down: the next refresh times out, dipflow fails over.
        await primary.stop()
        moved = await wait_for(
            server, lambda s: s.server == f"127.0.0.1:{secondary_port}/udp"
            and s.state is RegistrationState.REGISTERED, 20,
        )  # fmt: skip
        assert moved.failovers >= 1, moved
        assert any("408" in line for line in moved.history)
        assert secondary.registers()
        result = await sipp(call, ("127.0.0.1", secondary_port), service=DID)
        assert result.returncode == 0, result.output[-3000:] + secondary.text()[-2000:]
        await host.wait_calls(2, within_s=10)
    assert [c.dnis for c in host.calls] == [DID, DID]


async def test_wrong_password_fails_and_backs_off(tmp_path: Path) -> None:
    port = free_port()
    host = ScriptedHost(numbers=(DID,))
    async with (
        Kamailio(tmp_path, port=port, domain=DOMAIN, username="4930123456", password="right"),
        running_server(host, trunks=(trunk((port,), password="wrong"),)) as server,
    ):
        failed = await wait_for(server, lambda s: s.state is RegistrationState.FAILED, 10)
        assert failed.last_status == 401
        assert failed.last_error == "credentials refused"
        # It tries again after the back-off (0.5 s, then 1 s...), never in a tight loop.
        await wait_for(server, lambda s: s.failures >= 3, 10)
        assert status(server).failures <= 4
