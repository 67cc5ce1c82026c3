"""An IP-trust trunk with a real peer (sipp): its calls run, a stranger on its DID gets 403."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from dipflow.channels.sip.trunkconfig import (
    Credentials,
    IpTrustAuth,
    TrunkServer,
    TrunkSettings,
)
from tests.sip.sip_host import ScriptedHost, free_port, running_server
from tests.trunks.kamailio import Kamailio
from tests.trunks.sipp import scenario, sipp

pytestmark = pytest.mark.slow

TRUNK = TrunkSettings(
    name="pbx",
    servers=(TrunkServer(host="127.0.0.1", port=5060),),
    auth=IpTrustAuth(addresses=("127.0.0.1",)),
    dids=("+49 30 1234-5600",),
)


async def test_trusted_peer_reaches_its_did_stranger_gets_403(tmp_path: Path) -> None:
    host = ScriptedHost(numbers=("+49 30 1234-5600", "1000"), menu=False)
    async with running_server(host, trunks=(TRUNK,)) as server:
        # The carrier sends the number without the plus: it is the same DID, and the flow
        # sees it as configured (so `flows[].dnis` matches it).
        answered = scenario("uac_answered.xml", tmp_path, DOMAIN="dipflow.test", PAUSE_MS="2000")
        result = await sipp(answered, server.address, service="493012345600")
        assert result.returncode == 0, result.output[-3000:]
        refused = scenario("uac_refused.xml", tmp_path, STATUS="403")
        # 127.0.0.3 is loopback too, but not one of the trunk's addresses.
        result = await sipp(refused, server.address, service="+493012345600",
                            local_ip="127.0.0.3")  # fmt: skip
        assert result.returncode == 0, result.output[-3000:]
        # The trunk may only bring its DIDs: another number from it is not found.
        # (Each run reads its scenario at start: the file may be rewritten for the next.)
        refused_404 = scenario("uac_refused.xml", tmp_path, STATUS="404")
        result = await sipp(refused_404, server.address, service="1000")
        assert result.returncode == 0, result.output[-3000:]
        # A number no trunk owns is not a trunk call: direct callers still reach it.
        direct = scenario("uac_answered.xml", tmp_path, DOMAIN="dipflow.test", PAUSE_MS="2000")
        result = await sipp(direct, server.address, service="1000", local_ip="127.0.0.3")
        assert result.returncode == 0, result.output[-3000:]
        await host.wait_calls(2, within_s=15)
    assert [c.dnis for c in host.calls] == ["+49 30 1234-5600", "1000"]
    assert host.calls[0].ani == "+15557654321"


async def test_options_keepalive_marks_the_trunk_up_then_down(tmp_path: Path) -> None:
    """kamailio as the trunk's SBC answers our OPTIONS pings (405 is an answer); once it
    stops, the trunk shows as down in the supervisor rows."""
    port = free_port()
    trunk = TrunkSettings(
        name="sbc", servers=(TrunkServer(host="127.0.0.1", port=port),),
        auth=IpTrustAuth(), keepalive="options", keepalive_interval_s=5.0,
    )  # fmt: skip
    kamailio = Kamailio(tmp_path, port=port, domain="sbc.test", username="u", password="p")
    async with kamailio, running_server(ScriptedHost(), trunks=(trunk,), t1_s=0.1) as server:
        keepalive = server.trunking.keepalives["sbc"]
        async with asyncio.timeout(10):
            while keepalive.status.reachable is None:  # noqa: ASYNC110 - set by the ping task
                await asyncio.sleep(0.1)
        (row,) = server.trunk_status()
        assert row["reachable"] is True and row["state"] == "ip-trust"
        assert keepalive.status.last_status == 405
        await kamailio.stop()
        async with asyncio.timeout(20):  # next ping in 5 s, its timeout 64*T1 = 6.4 s
            while keepalive.status.reachable:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        (row,) = server.trunk_status()
        assert row["state"] == "unreachable" and row["last_status"] == 408


async def test_trunk_that_authenticates_by_digest_too(tmp_path: Path) -> None:
    """An `ip` trunk with an `inbound` account: its INVITE is challenged (407) and taken
    with the right credentials; the wrong password is challenged again, never answered."""
    trunk = TrunkSettings(
        name="pbx", servers=(TrunkServer(host="127.0.0.1", port=5060),),
        auth=IpTrustAuth(addresses=("127.0.0.1",),
                         inbound=Credentials(username="pbx", password=SecretStr("pbx-secret"))),
        dids=("+493012345600",),
    )  # fmt: skip
    host = ScriptedHost(numbers=("+493012345600",), menu=False)
    async with running_server(host, trunks=(trunk,)) as server:
        good = scenario("uac_digest.xml", tmp_path, USERNAME="pbx", PASSWORD="pbx-secret")
        result = await sipp(good, server.address, service="+493012345600")
        assert result.returncode == 0, result.output[-3000:]
        await host.wait_calls(1, within_s=10)
        wrong = scenario("uac_digest.xml", tmp_path, USERNAME="pbx", PASSWORD="guess")
        result = await sipp(wrong, server.address, service="+493012345600", timeout_s=10)
        assert result.returncode != 0  # the second INVITE got 407 again, not 200
        assert "407" in result.output
    assert len(host.calls) == 1
