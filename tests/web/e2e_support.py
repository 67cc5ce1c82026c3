"""The browser tests' world: the demo runtime on uvicorn (own thread, own event loop),
the Dataverse emulator beside it, headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import Browser, sync_playwright

from dipflow.emulator.testing import RunningEmulator
from dipflow.runtime.demo import demo_config, demo_environ
from dipflow.runtime.runtime import Runtime
from dipflow.web.app import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium under Playwright (a missing browser is a failure, not a skip)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@dataclass
class RunningDipflow:
    base_url: str
    runtime: Runtime
    app: Any
    crm_url: str
    loop: asyncio.AbstractEventLoop

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the server's loop (the runtime lives there)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextlib.contextmanager
def running_dipflow(crm: RunningEmulator, **config: Any) -> Iterator[RunningDipflow]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        settings = demo_config(emulator=crm, web_port=port, **config)
        runtime = await Runtime.create(settings, environ=demo_environ(crm))
        await runtime.start()
        app = create_app(runtime)
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", ws="websockets-sansio")
        )
        state.update(runtime=runtime, app=app, server=server, loop=asyncio.get_running_loop())
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        for _ in range(3000):  # uvicorn has no "started" event to wait on
            if server.started or serving.done():
                break
            await asyncio.sleep(0.02)
        ready.set()
        try:
            await serving
        finally:
            await runtime.stop()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # surfaced by the fixture below
            state["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, name="dipflow-web-e2e", daemon=True)
    thread.start()
    if not ready.wait(60) or "error" in state:
        raise RuntimeError(f"dipflow did not start: {state.get('error')!r}")
    try:
        yield RunningDipflow(
            base_url=f"http://127.0.0.1:{port}",
            runtime=state["runtime"],
            app=state["app"],
            crm_url=crm.base_url,
            loop=state["loop"],
        )
    finally:
        state["server"].should_exit = True
        thread.join(30)
        sock.close()
