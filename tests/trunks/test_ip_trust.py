"""An IP-trust trunk with a real peer (sipp): its calls run, a stranger on its DID gets 403."""

from __future__ import annotations

from pathlib import Path

import pytest

from dipflow.channels.sip.trunkconfig import IpTrustAuth, TrunkServer, TrunkSettings
from tests.sip.sip_host import ScriptedHost, running_server
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
