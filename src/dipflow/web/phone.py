"""The browser caller: `/phone` (the page), `/phone/ws` (the call), `/media/<key>/<mac>.wav`
(audio, for the browser that was played it: see `dipflow.web.mediagrant`).

The page needs a desktop login unless `web.phone_public` (the demo sets it); its number
picker lists `web.phone_callers`. `MAX_BROWSER_CALLS` bounds how many calls run at once,
`web.phone_calls_per_source` how many one client address holds. Layer 6 (web).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from dipflow.center.model import ContactQueued, Notification, QueuePositionChanged
from dipflow.channels.web.call import BrowserCall
from dipflow.channels.web.protocol import PlaceCall, ProtocolError, parse_message
from dipflow.media.errors import MediaError
from dipflow.media.prompts import PromptRenderer
from dipflow.runtime.config import DipflowConfig
from dipflow.web.auth import SESSION_ID_KEY
from dipflow.web.context import WebContext
from dipflow.web.security import close_quietly, receive_frame, same_origin
from dipflow.web.tasks import reap

log = logging.getLogger("dipflow.web.phone")

MAX_BROWSER_CALLS = 50
FIRST_MESSAGE_TIMEOUT_S = 60.0
MAX_BAD_MESSAGES = 20
_MEDIA_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


Send = Callable[[dict[str, Any]], Awaitable[None]]


def dialled_numbers(config: DipflowConfig) -> list[str]:
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
    per_source: dict[str, int] = {}
    """Browser calls in progress per client address (`web.phone_calls_per_source`)."""
    per_source_limit = ctx.runtime.config.web.phone_calls_per_source
    warming: set[asyncio.Task[None]] = set()

    def warm_hold_music() -> None:
        """Render the hold music once, in the background, when the first browser call
        starts: the caller then hears it at once when queued instead of silence."""
        if warming:
            return
        task = asyncio.create_task(asyncio.to_thread(_render_quietly, ctx.runtime.prompts))
        task.add_done_callback(_log_crash)
        warming.add(task)

    public = ctx.runtime.config.web.phone_public

    async def page(request: Request) -> Response:
        user = ctx.user(request)
        if user is None and not public:
            return ctx.page(request, "login.html", user=None, error=None, next_page="/phone")
        ctx.media.scope(request.session, create=True)  # the prompts' URLs are bound to it
        return ctx.page(
            request,
            "phone.html",
            user=user,
            callers=ctx.runtime.config.web.phone_callers,
            dialled=dialled_numbers(ctx.runtime.config),
        )

    async def media(request: Request) -> Response:
        key = str(request.path_params["key"])
        mac = str(request.path_params["mac"])
        scope = ctx.media.scope(request.session, create=False)
        # One answer for a bad MAC and a missing prompt: nothing is learnt by probing.
        if not (_MEDIA_KEY.fullmatch(key) and _MEDIA_KEY.fullmatch(mac)):
            return Response("not found", status_code=404)
        if not ctx.media.allows(scope, key, mac):
            return Response("not found", status_code=404)
        audio = ctx.runtime.prompts.get(key)
        if audio is None:
            return Response("not found", status_code=404)
        # Keys are content hashes: the bytes behind one never change. `private`: the URL
        # belongs to one browser, so no shared cache keeps it.
        return Response(
            audio.wav_bytes(),
            media_type="audio/wav",
            headers={"cache-control": "private, max-age=86400, immutable"},
        )

    async def phone_socket(websocket: WebSocket) -> None:
        if not same_origin(websocket.headers) or (not public and ctx.user(websocket) is None):
            await websocket.close(code=1008)
            return
        scope = ctx.media.scope(websocket.session, create=False)
        source = websocket.client.host if websocket.client else "unknown"
        sid = websocket.session.get(SESSION_ID_KEY)
        # Public phone without a sign-in: an event nobody sets.
        session_end = (
            ctx.sessions.watch(sid)
            if isinstance(sid, str) and ctx.user(websocket)
            else asyncio.Event()
        )
        await websocket.accept()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def send(message: dict[str, Any]) -> None:
            outbox.put_nowait(message)

        async def writer() -> None:
            try:
                while True:
                    await websocket.send_json(await outbox.get())
                    outbox.task_done()
            except WebSocketDisconnect:
                return  # the page went away: the reader ends the call

        writer_task = asyncio.create_task(writer())
        call: BrowserCall | None = None
        unsubscribe = None
        counted = False
        try:
            placed = await _first_message(websocket, send)
            if placed is None:
                return
            if scope is None:
                await send({"type": "error", "message": "open the phone page first"})
                return
            if len(active) >= MAX_BROWSER_CALLS:
                await send({"type": "error", "message": "too many browser calls; try later"})
                return
            if per_source.get(source, 0) >= per_source_limit:
                await send(
                    {"type": "error", "message": "too many calls from your address; try later"}
                )
                return
            per_source[source] = per_source.get(source, 0) + 1
            counted = True
            warm_hold_music()
            call = BrowserCall(
                send=send,
                prompts=ctx.runtime.prompts,
                media_url=lambda key: ctx.media.path(scope, key),
            )
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
            ended = asyncio.create_task(_wait_for(call.finished))
            # A signed-in caller's call ends when their session does (sign-out anywhere).
            signed_out = asyncio.create_task(_wait_for(session_end))
            await asyncio.wait({reader, ended, signed_out}, return_when=asyncio.FIRST_COMPLETED)
            await reap(reader, what=f"browser call {call_id}: reading the page", log=log)
            await reap(ended, what=f"browser call {call_id}: waiting for the end", log=log)
            await reap(signed_out, what=f"browser call {call_id}: watching the session", log=log)
        except WebSocketDisconnect:
            pass
        finally:
            if isinstance(sid, str):
                ctx.sessions.unwatch(sid, session_end)
            if counted:
                left = per_source.get(source, 1) - 1
                if left > 0:
                    per_source[source] = left
                else:
                    per_source.pop(source, None)
            if unsubscribe is not None:
                unsubscribe()
            if call is not None:
                call.caller_gone()
                if call.call_id is not None:
                    active.discard(call.call_id)
            # Let the last messages ("ended", an error) reach the page before closing.
            if not writer_task.done():
                flushed = asyncio.create_task(outbox.join())
                await asyncio.wait(
                    {writer_task, flushed}, timeout=2.0, return_when=asyncio.FIRST_COMPLETED
                )
                flushed.cancel()
            await reap(writer_task, what="browser phone socket writer", log=log)
            await close_quietly(websocket)

    return [
        Route("/phone", page, methods=["GET"]),
        Route("/media/{key}/{mac}.wav", media, methods=["GET"]),
        WebSocketRoute("/phone/ws", phone_socket),
    ]


async def _wait_for(event: asyncio.Event) -> None:
    await event.wait()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("pre-rendering the hold music failed", exc_info=error)


def _render_quietly(prompts: PromptRenderer) -> None:
    try:
        prompts.render_audio("hold")
    except (MediaError, OSError) as exc:  # a missing or broken file shows when the flow plays it
        log.warning("could not pre-render the hold music: %s", exc)


async def _read_messages(websocket: WebSocket, call: BrowserCall, send: Send) -> None:
    """The page's messages until it hangs up or closes (a closed socket is a hang-up)."""
    bad = 0
    try:
        while not call.ended:
            try:
                raw = await receive_frame(websocket)
            except WebSocketDisconnect:
                return
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


async def _first_message(websocket: WebSocket, send: Send) -> PlaceCall | None:
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


def _queue_forwarder(
    call_id: str, put: Callable[[dict[str, Any]], None]
) -> Callable[[Notification], None]:
    """Center notification callback: this call's queue position, for the transcript."""

    def forward(note: Notification) -> None:
        if isinstance(note, ContactQueued | QueuePositionChanged) and note.call_id == call_id:
            message = {
                "type": "queue",
                "queue": note.queue,
                "position": note.position,
                "estimated_wait_s": note.estimated_wait_s,
            }
            put(message)

    return forward
