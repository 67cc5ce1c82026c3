"""The trunk side of the SIP channel, assembled: DNS, trunk table, registrations. Layer 4.

`SipServer` owns one `Trunking`: the resolver (dns.py), the trunk table (trunks.py) the
incoming calls consult, the registration tasks (registration.py), and the awaitables
for the agent's answers to our own requests (awaiting.py).
"""

from __future__ import annotations

import asyncio

from dipflow.channels.sip.awaiting import Awaiting
from dipflow.channels.sip.dns import SipResolver
from dipflow.channels.sip.driver import SipDriver
from dipflow.channels.sip.registration import RegistrationStatus, TrunkRegistration
from dipflow.channels.sip.settings import SipSettings
from dipflow.channels.sip.trunkconfig import RegistrationAuth
from dipflow.channels.sip.trunks import TrunkTable


class Trunking:
    def __init__(self, settings: SipSettings, driver: SipDriver) -> None:
        self.driver = driver
        self.resolver = SipResolver(settings.dns_servers, timeout_s=settings.dns_timeout_s)
        self.table = TrunkTable(settings.trunks, self.resolver)
        self.awaiting = Awaiting(driver)
        self.registrations = [
            TrunkRegistration(trunk, driver=driver, awaiting=self.awaiting, resolver=self.resolver)
            for trunk in settings.trunks
            if isinstance(trunk.auth, RegistrationAuth)
        ]

    async def start(self) -> None:
        await self.table.start()
        for registration in self.registrations:
            self.driver.spawn(registration.run())

    async def stop(self) -> None:
        """Remove our registrations (briefly; the registrar's expiry covers a failure)."""
        if self.registrations:
            await asyncio.gather(*(r.stop() for r in self.registrations))

    def registration_status(self) -> list[RegistrationStatus]:
        return [r.status for r in self.registrations]
