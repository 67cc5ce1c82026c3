"""Ghost calls: ending calls whose far end vanished without a BYE. Layer 4 (channels).

A caller whose phone crashed, lost its network or was a scanner never sends BYE; the call
would stay queued for good and be offered to agents. Once a leg is confirmed (ACKed) the
watchdog checks it every second and ends the call (BYE, and `CallerHungUp` for the flow,
or `AgentDisconnected` for the agent's leg) when:

* **no RTP** arrived for `rtp_timeout_s` on a two-way stream. A leg the peer holds
  (sendonly, inactive, c=0.0.0.0: RFC 3264 §8.4) may legitimately send nothing, so it
  gets `rtp_hold_timeout_s` instead (0: never; session timers, RFC 4028, cover holds);
* the peer's RTP port is **unreachable**: once the peer has sent from the address we
  send to, the leg's socket is connected to it, so the kernel reports ICMP port
  unreachable (ECONNREFUSED) to us; when those reports last `rtp_unreachable_s` with
  nothing received meanwhile, the peer is gone. (An unconnected UDP socket never hears
  of ICMP errors on Linux.) A connected socket takes datagrams from that peer only,
  which is what symmetric RTP accepts anyway; if the peer's address changes (a re-INVITE
  or re-latching), the socket is connected anew.

Times are `time.monotonic()`, the clock `RtpSession.last_received` uses (CLOCK_MONOTONIC,
one clock for every process of the machine). With a media worker (`media_mode`), a leg
is a `MediaLeg`: the worker reports each leg's receive figures every `ALIVE_INTERVAL_S`
and connects its sockets when asked (`media_link.py`), so the checks here are the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dipflow.channels.sip.call import SipCall
from dipflow.channels.sip.driver import SipDriver
from dipflow.channels.sip.events import Address
from dipflow.channels.sip.sessions import Session, SessionPool
from dipflow.channels.sip.transactions import LegState

log = logging.getLogger(__name__)

SWEEP_S = 1.0


@dataclass(slots=True)
class _Watch:
    since: float
    """When this leg started to owe us media (confirmed, or its direction changed)."""
    expected: bool
    connected_to: Address | None = None


class MediaWatchdog:
    """Checks the confirmed legs of `calls()` every `SWEEP_S` (see the module docstring)."""

    def __init__(
        self,
        *,
        driver: SipDriver,
        sessions: SessionPool,
        calls: Callable[[], Iterable[SipCall]],
    ) -> None:
        self.driver = driver
        self.sessions = sessions
        self.calls = calls
        self.settings = driver.settings
        self._watches: dict[Session, _Watch] = {}
        self._task: asyncio.Task[None] | None = None
        self.ended: dict[str, int] = {"no_media": 0, "unreachable": 0}

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="rtp-watchdog")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                self.sweep(time.monotonic())
            except Exception:  # a bug here must not stop the checks of every other call
                log.exception("RTP watchdog sweep failed")

    def sweep(self, now: float) -> None:
        live: set[Session] = set()
        for call in list(self.calls()):
            if call.ended:
                continue
            live.add(call.session)
            why = self._check(call.session, call.leg_id, now)
            if why:
                self._end_caller(call, why)
                continue
            agent_session, agent_leg = call.agent_session, call.agent_leg_id
            if agent_session is not None and agent_leg is not None:
                live.add(agent_session)
                why = self._check(agent_session, agent_leg, now)
                if why:
                    self._end_agent(call, agent_leg, why)
        for session in [s for s in self._watches if s not in live]:
            del self._watches[session]

    def _check(self, session: Session, leg_id: str, now: float) -> str:
        """Why this leg is gone ("" while it is fine)."""
        leg = self.driver.ua.legs.get(leg_id)
        if leg is None or leg.state is not LegState.CONFIRMED:
            return ""
        expected = self.sessions.media_expected.get(session, False)
        watch = self._watches.get(session)
        if watch is None or watch.expected != expected:
            watch = _Watch(since=now, expected=expected)
            self._watches[session] = watch
        settings = self.settings
        if settings.rtp_unreachable_s > 0:
            self._connect(session, watch)
            refused = session.refused_since
            if (
                refused is not None
                and session.last_received <= refused
                and session.refused_last - refused >= settings.rtp_unreachable_s
            ):
                return "unreachable"
        timeout = settings.rtp_timeout_s if expected else settings.rtp_hold_timeout_s
        if timeout > 0 and now - max(watch.since, session.last_received) > timeout:
            return "no_media"
        return ""

    def _connect(self, session: Session, watch: _Watch) -> None:
        """Connect the leg's socket to the peer once the peer has sent from there (again
        when the peer's address changes)."""
        if session.remote is not None and watch.connected_to != session.remote:
            watch.connected_to = session.connect_peer()

    def _end_caller(self, call: SipCall, why: str) -> None:
        self.ended[why] += 1
        log.warning("call on SIP leg %s: %s from the caller: ending it", call.leg_id, _SAID[why])
        call.caller_gone()

    def _end_agent(self, call: SipCall, agent_leg: str, why: str) -> None:
        self.ended[why] += 1
        log.warning("agent leg %s: %s from the agent's phone: ending it", agent_leg, _SAID[why])
        self.driver.ua.hangup(agent_leg, self.driver.now())  # BYE: agent_gone() will not
        call.agent_gone()


_SAID = {"no_media": "no RTP", "unreachable": "RTP port unreachable"}
