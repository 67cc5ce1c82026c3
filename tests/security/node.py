"""A real dipflow node for the security tests: `serve_runtime` (the composition root of
`dipflow serve`) with the CRM emulator, run in this process so the test can look inside."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dipflow.channels.sip import SipServer
from dipflow.cli.server import ServerUrls, serve_runtime
from dipflow.emulator.testing import running_emulator
from dipflow.runtime.config import DipflowConfig, config_from_data
from dipflow.runtime.demo import DEMO_FLOW, demo_config, demo_environ
from dipflow.runtime.runtime import Runtime

QUEUE_AT_ONCE = """\
format: 1
name: queue-at-once
settings: {language: en-US}
start: Start
activities:
  Start: {kind: start, next: Queue}
  Queue:
    kind: queue_contact
    queue: CustomerCare
    on: {out: Music, error: Bye}
  Music: {kind: play_music, audio: hold}
  Bye: {kind: disconnect_contact}
"""
"""A flow that queues every caller at once, with music (no CRM, no menu)."""


@dataclass
class Node:
    runtime: Runtime
    sip: SipServer
    urls: ServerUrls
    crm_url: str
    """The CRM emulator's base URL (its `/_emulator/faults` makes it slow or failing)."""

    @property
    def sip_address(self) -> tuple[str, int]:
        host, port = self.sip.address[:2]
        return str(host), int(port)


def queue_flow(tmp_path: Path) -> str:
    path = tmp_path / "queue-at-once.yaml"
    path.write_text(QUEUE_AT_ONCE)
    return str(path)


@contextlib.asynccontextmanager
async def running_node(
    *,
    sip: dict[str, Any] | None = None,
    flow: str | None = None,
    tweak: dict[str, Any] | None = None,
    tts: str = "silent",
) -> AsyncIterator[Node]:
    """A node on loopback (web and SIP on free ports, RTP on a private range).

    `sip`: SIP settings over the defaults; `tweak`: top-level sections of the
    configuration replaced or merged (e.g. `{"store": {...}}`)."""
    with running_emulator(seed="demo", require_auth=True) as crm:
        base = demo_config(
            emulator=crm,
            web_port=0,
            sip={"host": "127.0.0.1", "port": 0, "trusted_peers": [], **(sip or {})},
            tts=tts,
            flow=flow or DEMO_FLOW,
        )
        config = _with(base, tweak or {})
        parts: dict[str, Any] = {}
        ready = asyncio.Event()
        stop = asyncio.Event()

        def on_parts(runtime: Runtime, server: SipServer | None) -> None:
            parts["runtime"], parts["sip"] = runtime, server

        def on_ready(urls: ServerUrls) -> None:
            parts["urls"] = urls
            ready.set()

        task = asyncio.create_task(
            serve_runtime(
                config, environ=demo_environ(crm), on_ready=on_ready, stop=stop, on_parts=on_parts
            )
        )
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED, timeout=60)
        if not ready.is_set():
            waiter.cancel()
            if task.done():
                task.result()
            raise RuntimeError("the node did not start")
        try:
            assert isinstance(parts["sip"], SipServer)
            # Hold music is synthesised on first use (seconds of CPU on a busy machine),
            # during which a call's session waits; have it ready as a running node does.
            await asyncio.to_thread(parts["runtime"].prompts.render_audio, "hold")
            yield Node(
                runtime=parts["runtime"], sip=parts["sip"], urls=parts["urls"],
                crm_url=crm.base_url,
            )  # fmt: skip
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)


def _with(config: DipflowConfig, tweak: dict[str, Any]) -> DipflowConfig:
    if not tweak:
        return config
    data = config.model_dump(mode="python", exclude={"base_dir"})
    for key, value in tweak.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    _reveal(data)
    return config_from_data(data)


def _reveal(data: Any) -> None:
    """model_dump keeps SecretStr objects; the loader wants their values back."""
    from pydantic import SecretStr

    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, SecretStr):
                data[key] = value.get_secret_value()
            else:
                _reveal(value)
    elif isinstance(data, list):
        for item in data:
            _reveal(item)
