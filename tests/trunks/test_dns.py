"""RFC 3263 resolution against a real DNS server (dnsmasq) on loopback."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dipflow.channels.sip.dns import DnsLookupError, SipResolver
from tests.trunks.dnsmasq import dnsmasq

pytestmark = pytest.mark.slow

RECORDS = [
    # carrier.test: NAPTR prefers TLS, then UDP.
    "--naptr-record=carrier.test,10,50,s,SIPS+D2T,,_sips._tcp.carrier.test",
    "--naptr-record=carrier.test,20,50,s,SIP+D2U,,_sip._udp.carrier.test",
    "--srv-host=_sips._tcp.carrier.test,edge1.carrier.test,5061,10,100",
    "--srv-host=_sips._tcp.carrier.test,edge2.carrier.test,5062,20,100",
    "--srv-host=_sip._udp.carrier.test,edge1.carrier.test,5060,10,100",
    "--host-record=edge1.carrier.test,127.0.0.11",
    "--host-record=edge2.carrier.test,127.0.0.12",
    # weighted.test: one priority, weights 90/10 (no NAPTR: SRV per transport).
    "--srv-host=_sip._udp.weighted.test,heavy.weighted.test,5060,10,90",
    "--srv-host=_sip._udp.weighted.test,light.weighted.test,5060,10,10",
    "--host-record=heavy.weighted.test,127.0.0.21",
    "--host-record=light.weighted.test,127.0.0.22",
    # plain.test: address records only.
    "--host-record=plain.test,127.0.0.31",
]


async def test_naptr_srv_and_addresses(tmp_path: Path) -> None:
    async with dnsmasq(RECORDS, tmp_path) as port:
        resolver = SipResolver((f"127.0.0.1:{port}",))
        targets = await resolver.targets("sip:+4930123@carrier.test")
        # NAPTR order 10 (TLS) first; its SRV by priority: edge1 (10) before edge2 (20).
        assert [(t.address, t.port, t.transport) for t in targets] == [
            ("127.0.0.11", 5061, "tls"),
            ("127.0.0.12", 5062, "tls"),
        ]
        assert targets[0].host == "edge1.carrier.test"  # the TLS name to verify
        # A transport parameter skips NAPTR: the UDP SRV.
        udp = await resolver.targets("sip:carrier.test;transport=udp")
        assert [(t.address, t.port, t.transport) for t in udp] == [("127.0.0.11", 5060, "udp")]
        # A port skips SRV: address records, UDP.
        plain = await resolver.targets("sip:plain.test:5080")
        assert [(t.address, t.port, t.transport) for t in plain] == [("127.0.0.31", 5080, "udp")]
        # No NAPTR, no SRV: address records on 5060/UDP (RFC 3263 §4.2).
        bare = await resolver.targets("sip:plain.test")
        assert [(t.address, t.port, t.transport) for t in bare] == [("127.0.0.31", 5060, "udp")]
        # sips: only TLS targets.
        secure = await resolver.targets("sips:carrier.test")
        assert {t.transport for t in secure} == {"tls"}


async def test_answers_are_cached(tmp_path: Path) -> None:
    async with dnsmasq(RECORDS, tmp_path) as port:
        resolver = SipResolver((f"127.0.0.1:{port}",))
        log = tmp_path / "dnsmasq.log"

        def queries() -> int:
            return log.read_text().count("query[")

        await resolver.targets("sip:carrier.test")
        first = queries()
        assert first >= 4  # NAPTR, SRV, A and AAAA of each target
        await resolver.targets("sip:carrier.test")
        assert queries() == first  # within the TTL (300 s here) nothing is asked again


async def test_srv_weights(tmp_path: Path) -> None:
    async with dnsmasq(RECORDS, tmp_path) as port:
        resolver = SipResolver((f"127.0.0.1:{port}",), rng=random.Random(7))
        firsts = [(await resolver.targets("sip:weighted.test"))[0].address for _ in range(400)]
        heavy = firsts.count("127.0.0.21") / len(firsts)
        assert 0.8 < heavy < 0.97  # weight 90 of 100 comes first about 90% of the time
        # both are always listed: the light one is the fallback
        assert len(await resolver.targets("sip:weighted.test")) == 2


async def test_unknown_name_is_a_clear_error(tmp_path: Path) -> None:
    async with dnsmasq(RECORDS, tmp_path) as port:
        resolver = SipResolver((f"127.0.0.1:{port}",))
        with pytest.raises(DnsLookupError, match=r"nowhere\.test"):
            await resolver.targets("sip:nowhere.test")


async def test_dead_dns_server_is_a_clear_error() -> None:
    resolver = SipResolver(("127.0.0.1:9",), timeout_s=0.3)  # discard port: no answer
    with pytest.raises(DnsLookupError):
        await resolver.targets("sip:carrier.test")
