"""dipflow's SIP channel under test: a `SipServer` on a given address with free ports."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from dipflow.channels.sip import SipServer, SipSettings
from tests.sip.sip_host import ScriptedHost, free_port, shared_prompts


@contextlib.asynccontextmanager
async def running_dipflow(
    host: ScriptedHost, *, bind: str = "127.0.0.1", **overrides: object
) -> AsyncIterator[SipServer]:
    """A started `SipServer` bound to `bind` (SIP on a free port), stopped on exit."""
    rtp_base = 30000 + (free_port() % 8000) * 2
    settings = SipSettings.model_validate(
        {"host": bind, "port": 0, "rtp_port_min": rtp_base, "rtp_port_max": rtp_base + 200,
         **overrides}
    )  # fmt: skip
    server = SipServer(settings, host=host, prompts=shared_prompts())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        for task in host.tasks:
            task.cancel()
