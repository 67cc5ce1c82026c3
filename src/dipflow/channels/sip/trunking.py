"""The trunk side of the SIP channel, assembled: DNS, trunks, registrations, calls out.

Layer 4 (channels). `SipServer` owns one `Trunking`: the resolver (dns.py), the trunk
table (trunks.py) the incoming calls consult, the registration tasks (registration.py),
the awaitables for the agent's answers to our own requests (awaiting.py), and the calls
we place (outbound.py): `originate` makes an answered call out into a `SipCall` the
runtime drives like any caller (a callback).
"""

from __future__ import annotations

import asyncio

from dipflow.channels.sip.awaiting import Awaiting
from dipflow.channels.sip.call import CallControl, SipCall
from dipflow.channels.sip.dns import SipResolver
from dipflow.channels.sip.driver import SipDriver
from dipflow.channels.sip.keepalive import TrunkKeepalive
from dipflow.channels.sip.outbound import Answered, NotAnswered, OutboundCalls
from dipflow.channels.sip.registration import RegistrationStatus, TrunkRegistration
from dipflow.channels.sip.sessions import SessionPool, sends
from dipflow.channels.sip.settings import SipSettings
from dipflow.channels.sip.trunkconfig import RegistrationAuth
from dipflow.channels.sip.trunks import TrunkTable


class Trunking:
    def __init__(self, settings: SipSettings, driver: SipDriver, sessions: SessionPool) -> None:
        self.driver = driver
        self.sessions = sessions
        self.resolver = SipResolver(settings.dns_servers, timeout_s=settings.dns_timeout_s)
        self.table = TrunkTable(settings.trunks, self.resolver)
        self.awaiting = Awaiting(driver)
        self.outbound = OutboundCalls(driver=driver, sessions=sessions, trunks=self.table)
        self.keepalives = {
            trunk.name: TrunkKeepalive(trunk, driver=driver, awaiting=self.awaiting,
                                       resolver=self.resolver)
            for trunk in settings.trunks if trunk.keepalive != "none"
        }  # fmt: skip
        self.registrations = [
            TrunkRegistration(trunk, driver=driver, awaiting=self.awaiting, resolver=self.resolver)
            for trunk in settings.trunks
            if isinstance(trunk.auth, RegistrationAuth)
        ]

    async def start(self) -> None:
        await self.table.start()
        for registration in self.registrations:
            self.driver.spawn(registration.run())
        for keepalive in self.keepalives.values():
            self.driver.spawn(keepalive.run())

    async def stop(self) -> None:
        """Remove our registrations (briefly; the registrar's expiry covers a failure)."""
        if self.registrations:
            await asyncio.gather(*(r.stop() for r in self.registrations))

    def registration_status(self) -> list[RegistrationStatus]:
        return [r.status for r in self.registrations]

    async def originate(
        self,
        control: CallControl,
        calls: dict[str, SipCall],
        destination: str,
        *,
        caller_id: str | None = None,
        caller_name: str | None = None,
        ring_timeout_s: float = 60.0,
    ) -> SipCall | NotAnswered:
        """Call `destination`; once answered, a `SipCall` (its `ani` the number called)
        registered in `calls`, media running, ready for prompts or an agent."""
        sessions = self.sessions
        session = await sessions.open()
        if session is None:
            return NotAnswered(status=503, reason="no RTP port free")
        outcome = await self.outbound.place(
            destination, session=session, caller_id=caller_id, caller_name=caller_name,
            ring_timeout_s=ring_timeout_s,
        )  # fmt: skip
        if not isinstance(outcome, Answered):
            sessions.close(session)
            return outcome
        if outcome.leg_id not in self.driver.ua.legs:  # hung up as soon as it answered
            sessions.close(session)
            return NotAnswered(status=487, reason="the callee hung up at once")
        session.configure(outcome.negotiated)
        session.srtp = outcome.srtp
        number = destination.removeprefix("tel:").split(";", 1)[0]
        call = SipCall(control, leg_id=outcome.leg_id, session=session, ani=number,
                       dnis=caller_id or "")  # fmt: skip
        session.listener = call
        calls[outcome.leg_id] = call
        session.sending = sends(outcome.negotiated)
        session.peer.confirm()  # our INVITE was answered and ACKed: media may flow
        sessions.start_pacing(session)
        return call
