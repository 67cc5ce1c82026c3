"""The browser caller: `/phone` (the page), `/phone/ws` (the call), `/media/<key>.wav` (audio).

The page is public, like a phone line: anyone who reaches it can call the IVR.
`MAX_BROWSER_CALLS` bounds how many run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from dipflow.center.model import ContactQueued, QueuePositionChanged
from dipflow.channels.web.call import BrowserCall
from dipflow.channels.web.protocol import PlaceCall, ProtocolError, parse_message
from dipflow.web.auth import current_user
from dipflow.web.context import WebContext
from dipflow.web.security import receive_frame, same_origin

log = logging.getLogger("dipflow.web.phone")

MAX_BROWSER_CALLS = 50
FIRST_MESSAGE_TIMEOUT_S = 60.0
MAX_BAD_MESSAGES = 20
_MEDIA_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


def demo_callers() -> list[dict[str, str]]:
    """The demo CRM's callers, for the number picker (empty when the emulator is absent)."""
    try:
        from dipflow.emulator.demo_data import DEMO_CALLERS
    except ImportError:  # pragma: no cover - the emulator ships with dipflow
        return []
    return [
        {
            "label": c.label,
            "ani": c.ani,
            "name": c.expected_fullname or ("unknown caller" if c.matches == 0 else "ambiguous"),
        }
        for c in DEMO_CALLERS
    ]


def dialled_numbers(config: Any) -> list[str]:
    """Numbers the page can dial: every DNIS a flow is bound to (`web` for a catch-all)."""
    numbers: list[str] = []
    for binding in config.flows:
        if binding.dnis == "*":
            numbers.append("web")
        else:
            numbers.extend(binding.dnis)
    return list(dict.fromkeys(numbers)) or ["web"]


def routes(ctx: WebContext) -> list[BaseRoute]:
    active: set[str] = set()
    warming: set[asyncio.Task[Any]] = set()

    def warm_hold_music() -> None:
        """Render the hold music once, in the background, when the first browser call
        starts: the caller then hears it at once when queued instead of silence."""
        if warming:
            return
        task = asyncio.create_task(asyncio.to_thread(_render_quietly, ctx.runtime.prompts))
        warming.add(task)

    public = bool(ctx.runtime.config.web.phone_public)

    async def page(request: Request) -> Response:
        user = current_user(request, ctx.users)
        if user is None and not public:
            return ctx.page(request, "login.html", user=None, error=None, next_page="/phone")
        return ctx.page(
            request,
            "phone.html",
            user=user,
            callers=demo_callers(),
            dialled=dialled_numbers(ctx.runtime.config),
        )

    async def media(request: Request) -> Response:
        key = str(request.path_params["key"])
        if not _MEDIA_KEY.fullmatch(key):
            return Response("not found", status_code=404)
        audio = ctx.runtime.prompts.get(key)
        if audio is None:
            return Response("not found", status_code=404)
        # Keys are content hashes: the bytes behind one never change.
        return Response(
            audio.wav_bytes(),
            media_type="audio/wav",
            headers={"cache-control": "public, max-age=86400, immutable"},
        )

    async def phone_socket(websocket: WebSocket) -> None:
        if not same_origin(websocket.headers) or (
            not public and current_user(websocket, ctx.users) is None
        ):
            await websocket.close(code=1008)
            return
        await websocket.accept()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def send(message: dict[str, Any]) -> None:
            outbox.put_nowait(message)

        async def writer() -> None:
            while True:
                await websocket.send_json(await outbox.get())
                outbox.task_done()

        writer_task = asyncio.create_task(writer())
        call: BrowserCall | None = None
        unsubscribe = None
        try:
            placed = await _first_message(websocket, send)
            if placed is None:
                return
            if len(active) >= MAX_BROWSER_CALLS:
                await send({"type": "error", "message": "too many browser calls; try later"})
                return
            warm_hold_music()
            call = BrowserCall(send=send, prompts=ctx.runtime.prompts)
            try:
                handle = ctx.runtime.start_call(
                    call, ani=placed.ani, dnis=placed.dnis, channel="web"
                )
            except LookupError:
                await send({"type": "error", "message": f"nothing answers {placed.dnis}"})
                return
            call.attach(handle)
            call_id = handle.call_id
            active.add(call_id)
            await send({"type": "call_started", "call_id": call_id, "ani": placed.ani})
            unsubscribe = ctx.runtime.center.subscribe(_queue_forwarder(call_id, outbox.put_nowait))
            reader = asyncio.create_task(_read_messages(websocket, call, send))
            ended = asyncio.create_task(call.finished.wait())
            await asyncio.wait({reader, ended}, return_when=asyncio.FIRST_COMPLETED)
            for task in (reader, ended):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                    await task
        except WebSocketDisconnect:
            pass
        finally:
            if unsubscribe is not None:
                unsubscribe()
            if call is not None:
                call.caller_gone()
                if call.call_id is not None:
                    active.discard(call.call_id)
            # Let the last messages ("ended", an error) reach the page before closing.
            if not writer_task.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(outbox.join(), 2.0)
            writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer_task
            with contextlib.suppress(Exception):
                await websocket.close()

    return [
        Route("/phone", page, methods=["GET"]),
        Route("/media/{key}.wav", media, methods=["GET"]),
        WebSocketRoute("/phone/ws", phone_socket),
    ]


def _render_quietly(prompts: Any) -> None:
    try:
        prompts.render_audio("hold")
    except Exception:  # a missing or broken file shows up when the flow plays it
        log.warning("could not pre-render the hold music", exc_info=True)


async def _read_messages(websocket: WebSocket, call: BrowserCall, send: Any) -> None:
    """The page's messages until it hangs up or closes (a closed socket is a hang-up)."""
    bad = 0
    try:
        while not call.ended:
            raw = await receive_frame(websocket)
            try:
                message = parse_message(raw)
            except ProtocolError as exc:
                bad += 1
                await send({"type": "error", "message": str(exc)})
                if bad > MAX_BAD_MESSAGES:
                    return
                continue
            if not isinstance(message, PlaceCall):
                await call.receive(message)
    finally:
        call.caller_gone()


async def _first_message(websocket: WebSocket, send: Any) -> PlaceCall | None:
    """The page's `call` message (number and dialled number), or None (told why)."""
    try:
        raw = await asyncio.wait_for(receive_frame(websocket), FIRST_MESSAGE_TIMEOUT_S)
    except TimeoutError:
        return None
    try:
        message = parse_message(raw)
    except ProtocolError as exc:
        await send({"type": "error", "message": str(exc)})
        return None
    if not isinstance(message, PlaceCall):
        await send({"type": "error", "message": "place a call first"})
        return None
    return message


def _queue_forwarder(call_id: str, put: Callable[[dict[str, Any]], None]) -> Any:
    """Center notification callback: this call's queue position, for the transcript."""

    def forward(note: Any) -> None:
        if isinstance(note, ContactQueued | QueuePositionChanged) and note.call_id == call_id:
            message = {
                "type": "queue",
                "queue": note.queue,
                "position": note.position,
                "estimated_wait_s": note.estimated_wait_s,
            }
            put(message)

    return forward
