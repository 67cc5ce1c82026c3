"""The agent desktop: login and logout, the page, and its live WebSocket `/desktop/ws`.

Agent actions (state changes, accept, decline, hang-up, end of wrap-up) travel over
the authenticated WebSocket, which only accepts same-origin handshakes; the
login and logout forms carry a CSRF token. See docs/desktop.md for the messages.
A refusal by the contact center (`CenterError`) is told to the desktop; anything else
is a bug, left to the server's logged boundary. Layer 6 (web).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from dipflow.center.errors import CenterError
from dipflow.runtime.centerlink import center_failure_level
from dipflow.web.auth import SESSION_ID_KEY
from dipflow.web.context import WebContext
from dipflow.web.errors import ActionError
from dipflow.web.hub import CLOSE
from dipflow.web.security import (
    CSRF_FIELD,
    close_quietly,
    csrf_ok,
    csrf_token,
    read_small_form,
    receive_frame,
    same_origin,
)
from dipflow.web.tasks import reap

log = logging.getLogger("dipflow.web.desktop")

_NEXT_PAGES = ("/desktop", "/supervisor", "/flows", "/phone")
_REASON = re.compile(r"[A-Za-z0-9_ -]{1,32}")
_CALL_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
IDLE_REASONS = ("break", "lunch", "meeting", "training", "other")
MAX_ACTION_BYTES = 2048


Reply = Callable[[dict[str, Any]], None]


def parse_action(raw: str | bytes) -> dict[str, str]:
    """A validated desktop action: `{"action": ..., "call_id"?: ..., "reason"?: ...}`."""
    if len(raw) > MAX_ACTION_BYTES:
        raise ActionError("message too large")
    try:
        data: Any = json.loads(raw)
    except ValueError as exc:
        raise ActionError("not JSON") from exc
    if not isinstance(data, dict):
        raise ActionError("not a JSON object")
    action = data.get("action")
    if action in ("login", "available", "logout", "wrap_up_done", "ping"):
        return {"action": action}
    if action == "idle":
        reason = data.get("reason")
        if not isinstance(reason, str) or not _REASON.fullmatch(reason):
            raise ActionError("an idle reason is 1-32 letters, digits, spaces, - or _")
        return {"action": action, "reason": reason}
    if action in ("accept", "decline", "hangup"):
        call_id = data.get("call_id")
        if not isinstance(call_id, str) or not _CALL_ID.fullmatch(call_id):
            raise ActionError("call_id is missing or malformed")
        return {"action": action, "call_id": call_id}
    raise ActionError("unknown action")


def routes(ctx: WebContext) -> list[BaseRoute]:
    async def desktop_page(request: Request) -> Response:
        user = ctx.user(request)
        if user is None:
            return login_page(request, error=None, next_page="/desktop")
        return ctx.page(request, "desktop.html", user=user, idle_reasons=IDLE_REASONS)

    def login_page(
        request: Request, *, error: str | None, next_page: str, status_code: int = 200
    ) -> Response:
        return ctx.page(
            request,
            "login.html",
            user=None,
            error=error,
            next_page=next_page,
            status_code=status_code,
        )

    async def login(request: Request) -> Response:
        form = await read_small_form(request)
        if form is None:
            return Response("The form is too large.", status_code=413)
        username = str(form.get("username") or "")[:64]
        password = str(form.get("password") or "")[:1024]
        next_page = str(form.get("next") or "/desktop")
        if next_page not in _NEXT_PAGES:
            next_page = "/desktop"
        if not csrf_ok(request.session, form.get(CSRF_FIELD)):
            return login_page(
                request,
                error="Your login form expired. Please try again.",
                next_page=next_page,
                status_code=400,
            )
        client = request.client.host if request.client else "unknown"
        # Counted before the password is checked, in one synchronous step: concurrent
        # attempts cannot all slip in before the first failure is recorded.
        wait = ctx.throttle.admit(client, username)
        if wait > 0:
            seconds = math.ceil(wait)
            response = login_page(
                request,
                error=f"Too many failed logins. Try again in {seconds} seconds.",
                next_page=next_page,
                status_code=429,
            )
            response.headers["retry-after"] = str(seconds)
            return response
        user = await ctx.users.authenticate(username, password)
        if user is None:
            return login_page(
                request,
                error="Wrong username or password.",
                next_page=next_page,
                status_code=401,
            )
        ctx.throttle.succeeded(client, username)
        # A fresh session on login (no fixation of a pre-login session): a new id in the
        # node's table, and the old one, if any, ended.
        ctx.sessions.close(request.session.get(SESSION_ID_KEY))
        request.session.clear()
        request.session[SESSION_ID_KEY] = ctx.sessions.open(user.username)
        csrf_token(request.session)
        if user.agent_id is not None:
            try:
                await ctx.runtime.center.login(user.agent_id)
            except CenterError as exc:  # already logged in to the center: fine
                log.log(center_failure_level(exc), "center login of %s: %s", user.agent_id, exc)
        if user.is_supervisor and next_page == "/desktop" and user.agent_id is None:
            next_page = "/supervisor"
        return RedirectResponse(next_page, status_code=303)

    async def logout(request: Request) -> Response:
        form = await read_small_form(request)
        if form is None:
            return Response("The form is too large.", status_code=413)
        if not csrf_ok(request.session, form.get(CSRF_FIELD)):
            return Response("The logout form expired; reload the page.", status_code=400)
        user = ctx.user(request)
        # Ends the session in the node's table: every copy of the cookie stops working, and
        # the sockets it opened are woken and close (their desktops find no session).
        ctx.sessions.close(request.session.get(SESSION_ID_KEY))
        if user is not None and user.agent_id is not None:
            try:
                await ctx.runtime.center.logout(user.agent_id)
            except CenterError as exc:
                log.log(center_failure_level(exc), "center logout of %s: %s", user.agent_id, exc)
            # The agent is logged out of the center: their other desktops reconnect and
            # show it (a desktop of another live session of theirs stays signed in).
            ctx.hub.disconnect(user.agent_id)
        request.session.clear()
        return RedirectResponse("/desktop", status_code=303)

    async def whoami(request: Request) -> Response:
        user = ctx.user(request)
        if user is None:
            return JSONResponse({"logged_in": False}, status_code=401)
        return JSONResponse(
            {"logged_in": True, "username": user.username, "agent_id": user.agent_id}
        )

    async def desktop_socket(websocket: WebSocket) -> None:
        user = ctx.user(websocket)
        sid = websocket.session.get(SESSION_ID_KEY)
        if (
            not same_origin(websocket.headers)
            or user is None
            or user.agent_id is None
            or not isinstance(sid, str)
        ):
            await websocket.close(code=1008)
            return
        agent_id = user.agent_id
        signed_out = ctx.sessions.watch(sid)
        await websocket.accept()
        await _seed_state(ctx, agent_id)
        outbox = ctx.hub.attach(agent_id)
        ctx.presence.opened(agent_id)
        outbox.put(ctx.hub.snapshot(agent_id))

        async def writer() -> None:
            try:
                while True:
                    message = await outbox.queue.get()
                    if message is CLOSE:
                        await websocket.close(code=1012)  # "service restart": come back
                        return
                    await websocket.send_json(message)
                    if outbox.overflowed:
                        await websocket.close(code=1013)
                        return
            except WebSocketDisconnect:
                return  # the desktop went away; the reader sees it too

        async def reader() -> None:
            try:
                while True:
                    raw = await receive_frame(websocket)
                    try:
                        action = parse_action(raw)
                    except ActionError as exc:
                        outbox.put({"type": "error", "message": str(exc)})
                        continue
                    await _perform(ctx, agent_id, action, outbox.put)
            except WebSocketDisconnect:
                return

        async def session_guard() -> None:
            """Returns when the session ends: signed out anywhere, idle or too old. An open
            desktop keeps its session alive (an agent waiting for calls is not idle)."""
            interval = min(30.0, ctx.sessions.settings.idle_timeout_s / 3)
            while True:
                try:
                    await asyncio.wait_for(signed_out.wait(), timeout=interval)
                    return
                except TimeoutError:
                    if ctx.sessions.username(sid) is None:
                        return

        tasks = {
            "writer": asyncio.create_task(writer()),
            "reader": asyncio.create_task(reader()),
            "guard": asyncio.create_task(session_guard()),
        }
        try:
            await asyncio.wait(set(tasks.values()), return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended = tasks["guard"].done() and not tasks["guard"].cancelled()
            ctx.hub.detach(agent_id, outbox)
            ctx.presence.closed(agent_id)
            ctx.sessions.unwatch(sid, signed_out)
            for name, task in tasks.items():
                await reap(task, what=f"desktop socket {name} of {agent_id}", log=log)
            if ended:  # 1008: the session is over; the page finds no session and signs in
                await close_quietly(websocket, code=1008)

    return [
        Route("/desktop", desktop_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/desktop/session", whoami, methods=["GET"]),
        WebSocketRoute("/desktop/ws", desktop_socket),
    ]


async def _seed_state(ctx: WebContext, agent_id: str) -> None:
    try:
        snapshot = await ctx.runtime.center.snapshot()
    except CenterError as exc:  # the desktop starts without a state; the next change fills it
        log.log(center_failure_level(exc), "center snapshot for %s: %s", agent_id, exc)
        return
    for agent in snapshot.agents:
        if agent.agent_id == agent_id:
            since = agent.since
            # since == 0: never changed state in this center (no start time to count from).
            age = snapshot.taken_at - since if since > 0 else 0.0
            ctx.hub.set_initial_state(agent_id, str(agent.state), agent.reason, age)


async def _perform(ctx: WebContext, agent_id: str, action: dict[str, str], reply: Reply) -> None:
    runtime, center = ctx.runtime, ctx.runtime.center
    kind = action["action"]
    try:
        if kind == "ping":
            reply({"type": "pong", "at": time.time()})
        elif kind == "login":
            await center.login(agent_id)
        elif kind == "available":
            await center.set_available(agent_id)
        elif kind == "idle":
            await center.set_idle(agent_id, action["reason"])
        elif kind == "logout":
            await center.logout(agent_id)
        elif kind == "wrap_up_done":
            await center.end_wrap_up(agent_id)
        elif kind == "accept":
            call_id = action["call_id"]
            if await runtime.agent_accept(agent_id, call_id):
                ctx.hub.connected(agent_id, call_id)
            else:
                reply({"type": "offer_gone", "call_id": call_id, "reason": "gone"})
        elif kind == "decline":
            await runtime.agent_decline(agent_id, action["call_id"])
        elif kind == "hangup":
            await runtime.agent_hangup(agent_id, action["call_id"])
    except CenterError as exc:  # an invalid transition, an unknown agent: tell the desktop
        level = center_failure_level(exc)
        log.log(level, "desktop action %s by %s refused: %s", kind, agent_id, exc)
        reply({"type": "error", "message": f"{kind}: {exc}"[:300]})
