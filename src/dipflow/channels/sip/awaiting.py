"""Awaiting the user agent's answers from coroutines. Layer 4 (channels).

The sans-IO agent reports the final response to a request of ours as `RequestDone` and
a NOTIFY as `Notified`; `Awaiting` turns them into awaitables: `await request(send)`
returns the response (a 408 `RequestDone` when the transaction timed out), and
`notifications(leg_id)` is a queue of the NOTIFYs of a dialog someone listens to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from dipflow.channels.sip.driver import SipDriver
from dipflow.channels.sip.events import Notified, RequestDone


class Awaiting:
    def __init__(self, driver: SipDriver) -> None:
        self.driver = driver
        self._requests: dict[str, asyncio.Future[RequestDone]] = {}
        self._listeners: dict[str, asyncio.Queue[Notified]] = {}

    async def request(self, send: Callable[[], str | None]) -> RequestDone | None:
        """Call `send` (which asks the agent to send a request and returns its id, or None
        when it cannot), flush, and wait for the final response. The agent's timer F
        (64*T1) ends the transaction with a 408; a guard a little longer makes sure a
        waiter is never left hanging."""
        request_id = send()
        if request_id is None:
            return None
        future: asyncio.Future[RequestDone] = self.driver.loop.create_future()
        self._requests[request_id] = future
        self.driver.flush()
        guard = 64 * self.driver.settings.t1_s + 5.0
        try:
            return await asyncio.wait_for(future, guard)
        except TimeoutError:
            return RequestDone(request_id=request_id, status=408, response=None)
        finally:
            self._requests.pop(request_id, None)

    def done(self, event: RequestDone) -> None:
        future = self._requests.pop(event.request_id, None)
        if future is not None and not future.done():
            future.set_result(event)

    def listen(self, leg_id: str) -> asyncio.Queue[Notified]:
        queue: asyncio.Queue[Notified] = asyncio.Queue()
        self._listeners[leg_id] = queue
        return queue

    def unlisten(self, leg_id: str) -> None:
        self._listeners.pop(leg_id, None)

    def notified(self, event: Notified) -> None:
        queue = self._listeners.get(event.leg_id)
        if queue is not None:
            queue.put_nowait(event)
