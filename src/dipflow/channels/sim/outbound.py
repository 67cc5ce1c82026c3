"""A simulated outbound channel: callbacks "placed" in process, for tests and `dipflow call`.
Layer 4 (channels).

Each answered call is a new `SimCaller` attached to the contact's session, so a test can
see what the called-back caller hears, make them press keys or hang up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from dipflow.channels.errors import ChannelError
from dipflow.channels.seam import CallHandle, ChannelCall, OutboundCall
from dipflow.channels.sim.caller import SimCaller


class NotAnswered(ChannelError):
    """The simulated callee did not answer (or was busy)."""


class SimOutbound:
    """Implements `dipflow.channels.seam.OutboundChannel`."""

    def __init__(
        self,
        *,
        answers: bool = True,
        ring_s: float = 0.0,
        reachable: Callable[[str], bool] = lambda number: True,
    ) -> None:
        """`answers`: False makes every call fail as busy; `ring_s`: how long it rings
        before the answer; `reachable`: which numbers have a route at all."""
        self.answers = answers
        self.ring_s = ring_s
        self._reachable = reachable
        self.placed: list[OutboundCall] = []
        self.legs: list[SimCaller] = []

    def can_dial(self, number: str) -> bool:
        return self._reachable(number)

    async def dial(self, call: OutboundCall, handle: CallHandle) -> ChannelCall:
        self.placed.append(call)
        if self.ring_s:
            await asyncio.sleep(self.ring_s)
        if not self.answers:
            raise NotAnswered(f"{call.number} is busy (486)")
        leg = SimCaller()
        leg.attach(handle)
        self.legs.append(leg)
        return leg
