"""Keep-alives towards a trunk's servers (`keepalive: crlf | options`). Layer 4 (channels).

Every `keepalive_interval_s`, for each target of each server:

* `crlf`: a double CRLF (RFC 5626 §3.5.1) on the connection (TCP/TLS; on UDP a datagram
  of it, which SBCs take as a ping), so NAT bindings and idle connections stay open;
* `options`: an out-of-dialog OPTIONS; any final response means the server is up (even
  a 404 or 405: it answered), a timeout means it is down. A trunk is reachable when one of
  its targets answered in the last round; that shows in the supervisor view and
  /metrics, and a change is logged once, not at every ping.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from dipflow.channels.sip.awaiting import Awaiting
from dipflow.channels.sip.core import new_token
from dipflow.channels.sip.dns import DnsLookupError, SipResolver, Target
from dipflow.channels.sip.driver import SipDriver
from dipflow.channels.sip.events import Outgoing
from dipflow.channels.sip.trunkconfig import TrunkSettings
from dipflow.channels.sip.trunks import registration_domain, server_uri

log = logging.getLogger(__name__)


@dataclass(slots=True)
class KeepaliveStatus:
    reachable: bool | None = None
    """None: not probed yet (or `crlf`, which gets no answer)."""
    last_status: int | None = None
    pings: int = 0


class TrunkKeepalive:
    def __init__(
        self,
        trunk: TrunkSettings,
        *,
        driver: SipDriver,
        awaiting: Awaiting,
        resolver: SipResolver,
    ) -> None:
        self.trunk = trunk
        self.driver = driver
        self.awaiting = awaiting
        self.resolver = resolver
        self.status = KeepaliveStatus()
        self._call_id = f"{new_token(12)}@dipflow"
        self._cseq = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.trunk.keepalive_interval_s)
            answered: list[bool] = []
            for target in await self._targets():
                if self.trunk.keepalive == "crlf":
                    self.driver.transports.send(
                        Outgoing(data=b"\r\n\r\n", destination=(target.address, target.port),
                                 transport=target.transport)
                    )  # fmt: skip
                    self.status.pings += 1
                else:
                    answered.append(await self._options(target))
            if answered:
                self._report(any(answered))

    async def _targets(self) -> list[Target]:
        targets: list[Target] = []
        for server in self.trunk.servers:
            try:
                targets += await self.resolver.targets(server_uri(server, self.trunk))
            except DnsLookupError as exc:
                log.warning("trunk %s keep-alive: %s", self.trunk.name, exc)
        return targets

    def _report(self, reachable: bool) -> None:
        if reachable != self.status.reachable:
            level, word = (logging.INFO, "reachable") if reachable else (logging.WARNING, "down")
            log.log(level, "trunk %s is %s (OPTIONS: %s)", self.trunk.name, word,
                    self.status.last_status)  # fmt: skip
        self.status.reachable = reachable

    async def _options(self, target: Target) -> bool:
        """Whether the target answered (any final response)."""
        ua = self.driver.ua
        domain = registration_domain(self.trunk)
        self._cseq += 1
        cseq = self._cseq
        if target.transport == "tls":
            self.driver.tls.expect((target.address, target.port), target.host, self.trunk.tls)
        done = await self.awaiting.request(
            lambda: ua.send_request(
                method="OPTIONS", uri=f"sip:{domain}", destination=(target.address, target.port),
                transport=target.transport, now=self.driver.now(),
                local_host=self.trunk.public_host,
                headers=[("From", f"<sip:dipflow@{ua.host}>;tag={new_token(6)}"),
                         ("To", f"<sip:{domain}>"), ("Call-ID", self._call_id),
                         ("CSeq", f"{cseq} OPTIONS"), ("Accept", "application/sdp")],
            )
        )  # fmt: skip
        self.status.pings += 1
        self.status.last_status = done.status if done is not None else 503
        return done is not None and done.response is not None
