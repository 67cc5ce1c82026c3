"""`ContactCenter`: the asyncio service on top of a `CenterStore`. Layer 3 (center).

It owns the clock and the timers (ring timeouts, maximum waits, wrap-ups): one task
sleeps until the store's `next_deadline()` and then calls `handle_timers(now)`. It
publishes every notification the store returns to its subscribers, in order.

Several nodes may run a `ContactCenter` on the same `RedisCenterStore`. Each node's
timer task may fire any due timer; the store's atomic steps make sure each fires once.
Because another node can set an earlier deadline, the task also re-reads the deadline
every `poll_interval_s`. On a shared store a second task relays the notifications other
nodes caused (an agent's desktop may hang on this node while the caller is on another),
so subscribers see every notification of the center, whichever node caused it.
On such a durable store the clock defaults to `time.time` (machines in NTP sync):
`time.monotonic` values are not comparable between machines and restart at boot.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

from dipflow.center.config import CenterConfig
from dipflow.center.errors import CenterError
from dipflow.center.model import CenterSnapshot, Notification, QueueStatistics, QueueStatus
from dipflow.center.skills import RelaxationStep, SkillRequirement, requirement_problem
from dipflow.center.store import CenterStore

log = logging.getLogger(__name__)

Subscriber = Callable[[Notification], Awaitable[None] | None]


class ContactCenter:
    """Queues, agents and routing as a service. Methods raise `CenterError` subclasses."""

    def __init__(
        self,
        config: CenterConfig,
        store: CenterStore,
        *,
        clock: Callable[[], float] | None = None,
        poll_interval_s: float = 1.0,
    ) -> None:
        """`clock` defaults to `time.monotonic` for a store in this process, and to
        `time.time` for a durable shared store (Redis): its deadlines and "available
        since" times outlive the process and are compared between machines."""
        self.config = config
        self.store = store
        if clock is None:
            clock = time.time if store.durable else time.monotonic
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._subscribers: list[Subscriber] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._relay_task: asyncio.Task[None] | None = None
        store.bind(config)

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Run the timers; on a shared store, also relay the other nodes' notifications."""
        if self._task is not None:
            return
        feed = await self.store.remote_notifications()
        if feed is not None:
            self._relay_task = asyncio.create_task(self._relay(feed), name="contact-center-relay")
        self._task = asyncio.create_task(self._run_timers(), name="contact-center-timers")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        tasks = [task for task in (self._task, self._relay_task) if task is not None]
        try:
            for task in tasks:
                task.cancel()
            if tasks:
                # asyncio.wait, not `await task` under suppress(CancelledError): a
                # cancellation of stop() itself still propagates, and a task that had
                # crashed is reported here instead of vanishing.
                await asyncio.wait(tasks)
            for task in tasks:
                if not task.cancelled() and (crash := task.exception()) is not None:
                    log.error("contact center: %s had failed", task.get_name(), exc_info=crash)
        finally:
            self._task = self._relay_task = None
            self._stopping = False

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Receive every notification; returns the function that unsubscribes.

        Callbacks run in the task that caused the notification, in order; keep them
        quick (hand off to your own queue). An exception in one is logged, not raised.
        """
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    # ----------------------------------------------------------------- contacts

    async def enqueue(
        self,
        call_id: str,
        queue: str,
        *,
        priority: int = 0,
        max_wait_s: float | None = None,
        fallback_queue: str | None = None,
        data: Mapping[str, str] | None = None,
        skills: Sequence[SkillRequirement] = (),
        relaxation: Sequence[RelaxationStep] = (),
        agent: str | None = None,
        park: bool = False,
    ) -> None:
        """Queue a call (raises `UnknownQueue`); higher `priority` is offered first.

        `max_wait_s` and `fallback_queue` override the queue's own for this contact.
        `skills`: only agents who meet all of them are offered the contact, until a
        `relaxation` step replaces them (`InvalidArgument` when one is not valid: see
        `requirement`).

        `agent`: for that agent only (Webex Queue To Agent), reported in `queue`. Refused
        with `AgentUnavailable` when the agent is logged out, or busy and not `park`;
        parked, it waits until the agent is free, and leaves the center
        (`ContactLeftQueue(agent_unavailable)`) if the agent does not answer, declines or
        logs out. It never goes to another agent and has no maximum wait.
        """
        await self._publish(
            await self.store.enqueue(
                call_id,
                queue,
                priority=priority,
                max_wait_s=max_wait_s,
                fallback_queue=fallback_queue,
                data=dict(data or {}),
                skills=skills,
                relaxation=relaxation,
                agent=agent,
                park=park,
                now=self._clock(),
            )
        )

    def requirement(
        self, skill: str, condition: str, value: object
    ) -> tuple[SkillRequirement | None, str | None]:
        """A requirement as a flow wrote it, checked against the configured skills:
        (requirement in normal form, None) or (None, why it is not valid)."""
        return requirement_problem(skill, condition, value, self.config.skill_definitions())

    async def abandon(self, call_id: str) -> None:
        """The caller hung up while queued, offered or connected. Unknown calls are ignored."""
        await self._publish(await self.store.abandon(call_id, now=self._clock()))

    async def end_contact(self, call_id: str) -> None:
        """The call is over: the agent goes to wrap_up. Before an accept, same as `abandon`."""
        await self._publish(await self.store.end_contact(call_id, now=self._clock()))

    async def queue_status(self, call_id: str) -> QueueStatus | None:
        return await self.store.queue_status(call_id, self._clock())

    async def queue_statistics(self, queue: str, call_id: str = "") -> QueueStatistics:
        """Numbers for a flow's queue lookup (`UnknownQueue` for a queue not configured)."""
        return await self.store.queue_statistics(queue, call_id, self._clock())

    def find_agent(self, name: str, lookup: str) -> str | None:
        """The agent a flow names by `id`, `email` or `name` (case-insensitive); None."""
        wanted = name.strip().casefold()
        for agent in self.config.agents:
            value = {"id": agent.agent_id, "email": agent.email, "name": agent.name}.get(lookup)
            if value is not None and value.casefold() == wanted:
                return agent.agent_id
        return None

    async def snapshot(self) -> CenterSnapshot:
        return await self.store.snapshot(self._clock())

    # ------------------------------------------------------------------- agents

    async def login(self, agent_id: str, *, teams: Sequence[str] | None = None) -> None:
        """Log in (idle, reason "login") to `teams` (default: all the agent's teams)."""
        await self._publish(await self.store.login(agent_id, teams=teams, now=self._clock()))

    async def logout(self, agent_id: str) -> None:
        await self._publish(await self.store.logout(agent_id, now=self._clock()))

    async def set_available(self, agent_id: str) -> None:
        await self._publish(await self.store.set_available(agent_id, now=self._clock()))

    async def set_idle(self, agent_id: str, reason: str) -> None:
        await self._publish(await self.store.set_idle(agent_id, reason, now=self._clock()))

    async def accept(self, agent_id: str, call_id: str) -> bool:
        """True when the agent got the call; False when the offer is gone (exactly-once)."""
        accepted, notes = await self.store.accept(agent_id, call_id, now=self._clock())
        await self._publish(notes)
        return accepted

    async def decline(self, agent_id: str, call_id: str) -> None:
        await self._publish(await self.store.decline(agent_id, call_id, now=self._clock()))

    async def end_wrap_up(self, agent_id: str) -> None:
        await self._publish(await self.store.end_wrap_up(agent_id, now=self._clock()))

    # ------------------------------------------------------------------- timers

    async def tick(self) -> None:
        """Fire the timers due now. The timer task does this; tests with a fake clock call it."""
        await self._publish(await self.store.handle_timers(self._clock()))

    async def _run_timers(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.tick()
                deadline = await self.store.next_deadline()
            except CenterError as exc:
                # A store outage (Redis down) must not kill the timers; retry shortly.
                log.warning("contact center: firing timers failed: %s", exc)
                deadline = None
            except Exception:
                # A bug: logged with its traceback, and the timers still keep running.
                log.exception("contact center: firing timers failed")
                deadline = None
            timeout = self._poll_interval_s
            if deadline is not None:
                timeout = max(0.0, min(timeout, deadline - self._clock()))
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that lands as the event fires, and stop() would wait for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            if self._stopping:
                return
            await asyncio.sleep(0)  # never starve the loop, whatever the store does

    async def _relay(self, feed: AsyncIterator[list[Notification]] | None) -> None:
        """Deliver other nodes' notifications; resubscribe after a store outage."""
        while True:
            try:
                if feed is None:
                    feed = await self.store.remote_notifications()
                    if feed is None:
                        return
                async for notes in feed:
                    await self._publish(notes)
                return  # the store closed the feed (shutting down)
            except CenterError as exc:
                log.warning("contact center: relay of other nodes' notifications failed: %s", exc)
                feed = None
                await asyncio.sleep(self._poll_interval_s)
            except Exception:
                log.exception("contact center: relay of other nodes' notifications failed")
                feed = None
                await asyncio.sleep(self._poll_interval_s)

    async def _publish(self, notes: list[Notification]) -> None:
        if notes:
            self._wake.set()  # every state change notifies; a deadline may have moved earlier
        for note in notes:
            for callback in tuple(self._subscribers):
                try:
                    result = callback(note)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("contact center subscriber failed on %r", note)
