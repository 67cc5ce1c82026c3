"""The live sockets: the desktop's state, offers and screen pops; the browser phone's call."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from dipflow.engine.commands import Disconnect, Play, PlayMusic
from dipflow.engine.events import CallerHungUp, DigitsCollected, PromptDone
from dipflow.runtime.notices import CallData, ScreenPopReady
from tests.web.web_helpers import FakeRuntime, next_message, session_cookie


def _offered(client: TestClient, ws: Any, fake_runtime: FakeRuntime, call_id: str) -> None:
    """The agent on `ws` goes Available and is offered a call queued to Support."""
    ws.send_json({"action": "available"})
    next_message(ws, "agent_state")
    client.portal.call(  # type: ignore[union-attr]
        lambda: fake_runtime.center.enqueue(call_id, "Support")
    )
    next_message(ws, "offer")


def test_desktop_socket_requires_a_session(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/desktop/ws") as ws:
        ws.receive_json()


def test_desktop_socket_refuses_other_origins(client: TestClient) -> None:
    cookie = session_cookie(client, "ava")
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect(
            "/desktop/ws", headers={"cookie": cookie, "origin": "https://evil.example"}
        ) as ws,
    ):
        ws.receive_json()


def test_agent_state_changes_travel_over_the_socket(client: TestClient) -> None:
    cookie = session_cookie(client, "ava")
    with client.websocket_connect("/desktop/ws", headers={"cookie": cookie}) as ws:
        snapshot = next_message(ws, "snapshot")
        assert snapshot["agent"]["state"] == "idle"
        assert snapshot["offer"] is None
        ws.send_json({"action": "available"})
        assert next_message(ws, "agent_state")["state"] == "available"
        ws.send_json({"action": "idle", "reason": "lunch"})
        state = next_message(ws, "agent_state")
        assert (state["state"], state["reason"]) == ("idle", "lunch")
        ws.send_json({"action": "idle", "reason": "<script>"})
        assert "idle reason" in next_message(ws, "error")["message"]
        ws.send_json({"action": "logout"})
        assert next_message(ws, "agent_state")["state"] == "logged_out"


def test_offer_and_screen_pop_reach_only_their_agent(
    client: TestClient, fake_runtime: FakeRuntime
) -> None:
    ava, ben = session_cookie(client, "ava"), session_cookie(client, "ben")
    fake_runtime.data["c1"] = CallData(
        call_id="c1",
        ani="+14155550123",
        dnis="web",
        variables={"Customer name": "Ada Lovelace", "Case title": "Router keeps rebooting"},
        path=("start", "lookup", "menu"),
    )
    with (
        client.websocket_connect("/desktop/ws", headers={"cookie": ava}) as ws_ava,
        client.websocket_connect("/desktop/ws", headers={"cookie": ben}) as ws_ben,
    ):
        next_message(ws_ava, "snapshot")
        next_message(ws_ben, "snapshot")
        ws_ava.send_json({"action": "available"})
        next_message(ws_ava, "agent_state")
        client.portal.call(  # type: ignore[union-attr]
            lambda: fake_runtime.center.enqueue("c1", "Support", data={"Queue reason": "menu 1"})
        )
        offer = next_message(ws_ava, "offer")
        assert offer["call_id"] == "c1"
        assert offer["data"]["Customer name"] == "Ada Lovelace"
        assert offer["data"]["Queue reason"] == "menu 1"
        assert offer["path"] == ["start", "lookup", "menu"]
        assert 0 < offer["ring_left_s"] <= offer["ring_total_s"] == 20
        ws_ava.send_json({"action": "accept", "call_id": "c1"})
        call = next_message(ws_ava, "call")
        assert call["call_id"] == "c1"
        assert fake_runtime.accepted == [("a1", "c1")]
        url = "https://crm.example/main.aspx?etn=incident&id=1"
        client.portal.call(  # type: ignore[union-attr]
            lambda: fake_runtime.notify(
                ScreenPopReady(agent_id="a1", call_id="c1", url=url, label="Case")
            )
        )
        pop = next_message(ws_ava, "screen_pop")
        assert (pop["url"], pop["safe"]) == (url, True)
        # Ben hears nothing of Ava's call: a ping is answered before anything else.
        ws_ben.send_json({"action": "ping"})
        assert ws_ben.receive_json()["type"] == "pong"
    # A desktop that reconnects gets the call and its pop back (marked as replayed).
    with client.websocket_connect("/desktop/ws", headers={"cookie": ava}) as again:
        snapshot = next_message(again, "snapshot")
        assert snapshot["call"]["call_id"] == "c1"
        assert [p["url"] for p in snapshot["call"]["pops"]] == [url]
        assert snapshot["call"]["pops"][0]["replay"] is True


def test_reconnecting_desktop_gets_the_ringing_offer_back(
    client: TestClient, fake_runtime: FakeRuntime
) -> None:
    cookie = session_cookie(client, "ava")
    with client.websocket_connect("/desktop/ws", headers={"cookie": cookie}) as ws:
        next_message(ws, "snapshot")
        _offered(client, ws, fake_runtime, "c9")
    with client.websocket_connect("/desktop/ws", headers={"cookie": cookie}) as ws:
        snapshot = next_message(ws, "snapshot")
        assert snapshot["offer"]["call_id"] == "c9"
        assert snapshot["agent"]["state"] == "offered"


def test_javascript_screen_pop_urls_are_marked_unsafe(
    client: TestClient, fake_runtime: FakeRuntime
) -> None:
    cookie = session_cookie(client, "ava")
    with client.websocket_connect("/desktop/ws", headers={"cookie": cookie}) as ws:
        next_message(ws, "snapshot")
        client.portal.call(  # type: ignore[union-attr]
            lambda: fake_runtime.notify(
                ScreenPopReady(agent_id="a1", call_id="c2", url="javascript:alert(1)", label="x")
            )
        )
        assert next_message(ws, "screen_pop")["safe"] is False


def test_phone_call_plays_prompts_and_reports_keys(
    client: TestClient, fake_runtime: FakeRuntime
) -> None:
    client.get("/phone")  # the page gives the browser its media scope (its prompts' URLs)
    with client.websocket_connect("/phone/ws") as ws:
        ws.send_json({"type": "call", "ani": "+1 (415) 555-0123", "dnis": "web"})
        started = next_message(ws, "call_started")
        channel, handle, facts = fake_runtime.calls[started["call_id"]]
        assert facts == {"ani": "+14155550123", "dnis": "web", "channel": "web"}
        client.portal.call(  # type: ignore[union-attr]
            channel.execute,
            Play(prompt_id="menu", text="Press 1 for an agent", interruptible=True),
        )
        play = next_message(ws, "play")
        assert play["text"] == "Press 1 for an agent" and play["interruptible"] is True
        wav = client.get(play["url"])
        assert wav.status_code == 200 and wav.content[:4] == b"RIFF"
        ws.send_json({"type": "digits", "digits": "1x"})
        assert "digits" in next_message(ws, "error")["message"]
        ws.send_json({"type": "digits", "digits": "1"})
        next_message(ws, "stop")  # barge-in: the page is told to stop the prompt
        assert handle.events == [
            PromptDone(prompt_id="menu", interrupted=True),
            DigitsCollected(digits="1"),
        ]
        ws.send_json({"type": "prompt_done", "prompt_id": "menu"})  # stale: dropped
        client.portal.call(channel.execute, PlayMusic(prompt_id="hold"))  # type: ignore[union-attr]
        assert next_message(ws, "music")["url"].startswith("/media/")
        client.portal.call(  # type: ignore[union-attr]
            lambda: fake_runtime.center.enqueue(started["call_id"], "Support")
        )
        queue = next_message(ws, "queue")
        assert (queue["queue"], queue["position"]) == ("Support", 1)
        client.portal.call(channel.execute, Disconnect(reason="normal"))  # type: ignore[union-attr]
        assert next_message(ws, "ended")["reason"] == "normal"
    assert len(handle.events) == 2  # no hang-up after the IVR disconnected


def test_phone_hang_up_and_closed_page_end_the_call(
    client: TestClient, fake_runtime: FakeRuntime
) -> None:
    client.get("/phone")
    with client.websocket_connect("/phone/ws") as ws:
        ws.send_json({"type": "call", "ani": "+15005550006", "dnis": "web"})
        call_id = next_message(ws, "call_started")["call_id"]
        ws.send_json({"type": "hangup"})
    assert fake_runtime.calls[call_id][1].events == [CallerHungUp()]
    with client.websocket_connect("/phone/ws") as ws:
        ws.send_json({"type": "call", "ani": "+15005550006", "dnis": "web"})
        call_id = next_message(ws, "call_started")["call_id"]
    assert fake_runtime.calls[call_id][1].events == [CallerHungUp()]


def test_phone_refuses_a_malformed_caller_number(client: TestClient) -> None:
    with client.websocket_connect("/phone/ws") as ws:
        ws.send_json({"type": "call", "ani": "<script>alert(1)</script>", "dnis": "web"})
        assert "phone number" in next_message(ws, "error")["message"]


def test_hang_up_wrap_up_and_done(client: TestClient, fake_runtime: FakeRuntime) -> None:
    cookie = session_cookie(client, "ava")
    with client.websocket_connect("/desktop/ws", headers={"cookie": cookie}) as ws:
        assert next_message(ws, "snapshot")["wrap_up_s"] == 30
        _offered(client, ws, fake_runtime, "c5")
        ws.send_json({"action": "accept", "call_id": "c5"})
        next_message(ws, "call")
        ws.send_json({"action": "hangup", "call_id": "c5"})
        assert next_message(ws, "call_ended")["call_id"] == "c5"
        wrap = next_message(ws, "agent_state")
        assert (wrap["state"], wrap["wrap_up_s"]) == ("wrap_up", 30)
        assert fake_runtime.hangups == [("a1", "c5")]
    with client.websocket_connect("/desktop/ws", headers={"cookie": cookie}) as ws:
        snapshot = next_message(ws, "snapshot")  # the ended call stays for the wrap-up notes
        assert snapshot["call"]["ended"] is True
        ws.send_json({"action": "wrap_up_done"})
        assert next_message(ws, "agent_state")["state"] == "available"
    with client.websocket_connect("/desktop/ws", headers={"cookie": cookie}) as ws:
        assert next_message(ws, "snapshot")["call"] is None


def test_declined_offer_goes_away(client: TestClient, fake_runtime: FakeRuntime) -> None:
    cookie = session_cookie(client, "ava")
    with client.websocket_connect("/desktop/ws", headers={"cookie": cookie}) as ws:
        next_message(ws, "snapshot")
        _offered(client, ws, fake_runtime, "c6")
        ws.send_json({"action": "decline", "call_id": "c6"})
        gone = next_message(ws, "offer_gone")
        assert (gone["call_id"], gone["reason"]) == ("c6", "declined")
        ws.send_json({"action": "accept", "call_id": "c6"})
        assert next_message(ws, "offer_gone")["reason"] == "gone"
        assert fake_runtime.accepted == []
