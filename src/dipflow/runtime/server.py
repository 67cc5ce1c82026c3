"""Run a runtime as a server: the web app on uvicorn, the SIP listener, clean shutdown.

`dipflow serve` and `dipflow demo` both end up in `serve_runtime`. Signals are
handled here (not by uvicorn) so that SIGINT/SIGTERM stop the web server, the
SIP listener and the runtime in that order, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import uvicorn

from dipflow.runtime.config import DipflowConfig
from dipflow.runtime.runtime import Runtime

log = logging.getLogger("dipflow.runtime.server")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerUrls:
    base: str
    phone: str
    desktop: str
    supervisor: str
    metrics: str
    sip: str | None


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: `serve_runtime` owns the signals."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_web_app(runtime: Runtime) -> Any:
    """The web engineer's app; a minimal health/metrics app until it lands."""
    try:
        from dipflow.web.app import create_app
    except ImportError:
        log.warning("dipflow.web.app is not available: serving /healthz and /metrics only")
        from dipflow.runtime.fallback_app import create_fallback_app

        return create_fallback_app(runtime)
    return create_app(runtime)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _make_sip(config: DipflowConfig, runtime: Runtime) -> Any:
    if config.sip is None:
        return None
    from dipflow.channels.sip import SipServer

    return SipServer(config.sip, host=runtime, prompts=runtime.prompts)


def _sip_uri(config: DipflowConfig, sip: Any) -> str | None:
    if config.sip is None or sip is None:
        return None
    host, port = getattr(sip, "address", (config.sip.host, config.sip.port))[:2]
    return f"sip:{config.sip.advertised_host or host}:{port}"


async def serve_runtime(
    config: DipflowConfig,
    *,
    environ: Mapping[str, str],
    on_ready: Callable[[ServerUrls], None],
    stop: asyncio.Event | None = None,
) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set), then shut everything down."""
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    runtime = await Runtime.create(config, environ=environ)
    await runtime.start()
    sip: Any = None
    server: _Uvicorn | None = None
    serve_task: asyncio.Task[None] | None = None
    try:
        app = make_web_app(runtime)
        uv_config = uvicorn.Config(
            app,
            host=config.web.host,
            port=config.web.port,
            log_level="warning",
            lifespan="auto",
            ws_ping_interval=20,
        )
        server = _Uvicorn(uv_config)
        serve_task = asyncio.create_task(server.serve())
        while not server.started:
            if serve_task.done():
                serve_task.result()  # raises the bind error
                raise OSError("the web server stopped during start-up")
            await asyncio.sleep(0.05)
        port = config.web.port
        for srv in getattr(server, "servers", []):
            for sock in srv.sockets:
                port = sock.getsockname()[1]
        sip = _make_sip(config, runtime)
        if sip is not None:
            await _maybe_await(sip.start())
        base = (config.web.public_url or f"http://{config.web.host}:{port}").rstrip("/")
        on_ready(
            ServerUrls(
                base=base,
                phone=f"{base}/phone",
                desktop=f"{base}/desktop",
                supervisor=f"{base}/supervisor",
                metrics=f"{base}/metrics",
                sip=_sip_uri(config, sip),
            )
        )
        stop_wait = asyncio.create_task(stop.wait())
        await asyncio.wait({serve_task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
    finally:
        if server is not None:
            server.should_exit = True
        if serve_task is not None:
            with suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(serve_task, 10)
        if sip is not None:
            try:
                await _maybe_await(sip.stop())
            except Exception:
                log.exception("SIP listener stop failed")
        await runtime.stop()
        for sig in installed:
            loop.remove_signal_handler(sig)
