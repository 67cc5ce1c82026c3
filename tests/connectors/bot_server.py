"""A small HTTP bot speaking dipflow's virtual-agent webhook shape, on a loopback port.

It is a real HTTP service (uvicorn in a thread), as a deployment's bot would be: a menu
bot that answers 1 (order status: handled), 0 or "agent" (escalated), asks again on
anything else. `mode` makes it misbehave: `error` (HTTP 500), `garbage` (not JSON),
`wrong` (JSON of the wrong shape), `slow` (answers after 2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from dipflow.emulator.testing import free_port


@dataclass
class BotServer:
    url: str
    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)


def _reply(body: dict[str, Any]) -> dict[str, Any]:
    ask = {"max_digits": 1, "timeout_s": 3}
    if body["event"] == "start":
        name = body["parameters"].get("customer", "there")
        return {"say": f"Hello {name}. Press 1 for your order, 0 for an agent.", "input": ask}
    entered = body["input"]
    if entered == "1":
        return {"say": "Your order ships today. Goodbye.", "end": "handled",
                "metadata": {"intent": "order_status", "order": "A-17"}}  # fmt: skip
    if entered == "0" or "agent" in entered.lower():
        return {"say": "Connecting you.", "end": "escalated", "metadata": {"intent": "agent"},
                "state_event": "handoff"}  # fmt: skip
    return {"say": "Sorry, press 1 or 0.", "input": ask}


@contextlib.contextmanager
def running_bot(mode: str = "ok") -> Iterator[BotServer]:
    port = free_port()
    server_state = BotServer(url=f"http://127.0.0.1:{port}/turn", mode=mode)

    async def turn(request: Request) -> Response:
        body = await request.json()
        server_state.requests.append(body)
        if server_state.mode == "error":
            return PlainTextResponse("boom", status_code=500)
        if server_state.mode == "garbage":
            return PlainTextResponse("<html>hello</html>")
        if server_state.mode == "wrong":
            return JSONResponse({"say": 42, "end": "maybe"})
        if server_state.mode == "slow":
            await asyncio.sleep(2)
        return JSONResponse(_reply(body))

    app = Starlette(routes=[Route("/turn", turn, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, name=f"bot-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test bot did not start")
        time.sleep(0.01)
    try:
        yield server_state
    finally:
        server.should_exit = True
        thread.join(10)
