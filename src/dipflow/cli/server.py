"""The composition root of a dipflow node: the runtime, the web app on uvicorn, the SIP
listener, and their clean shutdown. Layer 7 (command line).

`dipflow serve` and `dipflow demo` both end up in `serve_runtime`. It lives here, above
every other layer, because it is the one place that knows them all: the web app imports
the runtime, the runtime knows neither the web app nor which channels are listening.
Signals are handled here (not by uvicorn) so that SIGINT/SIGTERM stop the web server,
the SIP listener and the runtime in that order, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import uvicorn

from dipflow.channels.errors import ChannelError
from dipflow.channels.sip import SipServer
from dipflow.cli.loopguard import install_accept_error_handler, quiet_repeats
from dipflow.runtime.config import DipflowConfig
from dipflow.runtime.runtime import Runtime
from dipflow.web.app import create_app
from dipflow.web.connections import uvicorn_options

log = logging.getLogger("dipflow.cli.server")

WEB_STOP_TIMEOUT_S = 10.0
"""How long open requests and sockets get to finish once the web server is told to stop."""


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


def _sip_uri(config: DipflowConfig, sip: SipServer | None) -> str | None:
    if config.sip is None or sip is None:
        return None
    host, port = sip.address[:2]
    return f"sip:{config.sip.advertised_host or host}:{port}"


def _bound_port(server: _Uvicorn, configured: int) -> int:
    """The port uvicorn listens on (the configured one, or the one picked for port 0)."""
    port = configured
    for srv in server.servers:
        for sock in srv.sockets:
            port = int(sock.getsockname()[1])
    return port


async def _stop_web(server: _Uvicorn, serve_task: asyncio.Task[None]) -> None:
    """Ask uvicorn to stop and wait for it. A crash after start-up is logged, not lost
    (one during start-up is raised to the command, which says it cannot start)."""
    server.should_exit = True
    done, _ = await asyncio.wait({serve_task}, timeout=WEB_STOP_TIMEOUT_S)
    if not done:
        log.warning("the web server did not stop in %.0f s", WEB_STOP_TIMEOUT_S)
        serve_task.cancel()
        await asyncio.wait({serve_task})
    elif server.started and not serve_task.cancelled() and serve_task.exception() is not None:
        log.error("the web server failed", exc_info=serve_task.exception())


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
    sip: SipServer | None = None
    server: _Uvicorn | None = None
    serve_task: asyncio.Task[None] | None = None
    # Undone at the end: serve_runtime may run in a process that goes on (tests, embedding).
    undo = [install_accept_error_handler(loop)]
    try:
        uv_config = uvicorn.Config(
            create_app(runtime),
            host=config.web.host,
            port=config.web.port,
            log_level="warning",
            lifespan="auto",
            ws_ping_interval=20,
            **uvicorn_options(config.web),  # connection limits, timeouts, proxies (web.limits)
        )
        undo.append(quiet_repeats("uvicorn.error"))
        server = _Uvicorn(uv_config)
        serve_task = asyncio.create_task(server.serve())
        while not server.started:
            if serve_task.done():
                serve_task.result()  # raises the bind error
                raise OSError("the web server stopped during start-up")
            await asyncio.sleep(0.05)
        port = _bound_port(server, config.web.port)
        if config.sip is not None:
            sip = SipServer(
                config.sip, host=runtime, prompts=runtime.prompts,
                registry=runtime.metrics.registry,
            )  # fmt: skip
            await sip.start()
            trunk_metrics = sip.metrics_collector()
            runtime.metrics.registry.register(trunk_metrics)
            undo.append(lambda: runtime.metrics.registry.unregister(trunk_metrics))
            runtime.add_status_source("trunks", sip.trunk_status)
            if config.sip.trunks:
                runtime.set_outbound(sip)  # callbacks go out through the trunks
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
        if server is not None and serve_task is not None:
            await _stop_web(server, serve_task)
        try:
            if sip is not None:
                await sip.stop()
        except (ChannelError, OSError) as exc:  # its calls end anyway with the runtime
            log.warning("SIP listener stop failed: %s", exc)
        finally:
            await runtime.stop()
            for sig in installed:
                loop.remove_signal_handler(sig)
            for step in reversed(undo):
                step()
