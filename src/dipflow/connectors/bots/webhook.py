"""`WebhookBot`: a bot behind an HTTP endpoint, one POST per turn. Layer 3 (connectors).

Request body: `BotRequest.to_json()`; the answer: a JSON object in `BotReply`'s shape
(docs/connectors.md). Any transport error, non-2xx status, non-JSON body or reply of
the wrong shape is a `BotError` with the reason; the flow then takes `error`.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from dipflow.connectors.bots.model import BotError, BotReply, BotRequest, reply_from_json


class WebhookBot:
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._client = httpx.AsyncClient(
            timeout=timeout_s, headers=dict(headers or {}), transport=transport
        )

    async def turn(self, request: BotRequest) -> BotReply:
        try:
            response = await self._client.post(self.url, json=request.to_json())
        except httpx.TimeoutException:
            raise BotError(f"the bot at {self.url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise BotError(f"the bot at {self.url} is unreachable: {type(exc).__name__}") from None
        if not response.is_success:
            raise BotError(f"the bot at {self.url} answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise BotError(f"the bot at {self.url} answered something that is not JSON") from None
        return reply_from_json(body)

    async def aclose(self) -> None:
        await self._client.aclose()
