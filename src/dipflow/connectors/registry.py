"""The runtime's entry point to HTTP data dips: connectors by name. Layer 3 (connectors).

    connectors = Connectors(config.connectors)          # secrets resolved here
    completed = await connectors.execute(http_request)  # never raises
    await connectors.aclose()

A request with `connector: None` and an absolute `url` goes out without
credentials through a shared anonymous client (the Webex "unauthenticated" HTTP
activity). Configuration problems (missing secret, duplicate name) raise
`ConfigError` at construction, so a server fails at start-up, not on a call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from dipflow.connectors.client import ConnectorClient
from dipflow.connectors.config import ConnectorConfig
from dipflow.connectors.errors import ConfigError
from dipflow.engine.commands import HttpRequest
from dipflow.engine.events import HttpCompleted, HttpOutcome

ANONYMOUS = "(direct)"


class Connectors:
    def __init__(
        self,
        configs: Sequence[ConnectorConfig],
        *,
        environ: Mapping[str, str] = os.environ,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._clients: dict[str, ConnectorClient] = {}
        try:
            for config in configs:
                if config.name in self._clients:
                    raise ConfigError(f"two connectors are named {config.name!r}")
                self._clients[config.name] = ConnectorClient(
                    config, environ=environ, transport=transport
                )
        except ConfigError as exc:
            raise ConfigError(f"connector {config.name!r}: {exc}") from exc
        self._environ = environ
        self._transport = transport
        self._anonymous: ConnectorClient | None = None

    @property
    def names(self) -> list[str]:
        return list(self._clients)

    def client(self, name: str) -> ConnectorClient:
        """The connector `name`; `KeyError` when there is none."""
        return self._clients[name]

    def _direct(self) -> ConnectorClient:
        if self._anonymous is None:
            self._anonymous = ConnectorClient(
                ConnectorConfig(name="direct", kind="http", base_url="http://localhost/"),
                environ=self._environ,
                transport=self._transport,
                any_url=True,
            )
        return self._anonymous

    async def execute(self, request: HttpRequest) -> HttpCompleted:
        """Carry out `request` on its connector; always an `HttpCompleted`, never an exception."""
        if request.connector is None:
            if not request.url:
                return HttpCompleted(
                    request_id=request.request_id,
                    outcome=HttpOutcome.ERROR,
                    error="request has neither a connector nor an absolute url",
                )
            return await self._direct().execute(request)
        client = self._clients.get(request.connector)
        if client is None:
            return HttpCompleted(
                request_id=request.request_id,
                outcome=HttpOutcome.ERROR,
                error=f"unknown connector {request.connector!r}",
            )
        return await client.execute(request)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per connector: requests, token fetches, retries, breaker state, ..."""
        out = {name: client.snapshot() for name, client in self._clients.items()}
        if self._anonymous is not None:
            out[ANONYMOUS] = self._anonymous.snapshot()
        return out

    async def aclose(self) -> None:
        clients = list(self._clients.values())
        if self._anonymous is not None:
            clients.append(self._anonymous)
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> Connectors:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
