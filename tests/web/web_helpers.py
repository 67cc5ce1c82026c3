"""Helpers of the web tests: a small stand-in runtime (real contact center, real
configuration and password hashes; recorded calls) for the TestClient tests, and the
log-in steps. The browser tests run the real demo runtime instead (see e2e_support.py)."""

from __future__ import annotations

import io
import warnings
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.exceptions import StarletteDeprecationWarning

# Starlette asks for the `httpx2` fork for its TestClient and warns once, at import, when
# it finds plain httpx (which the project uses). The client works the same either way.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from dipflow.center.memory import MemoryCenterStore
from dipflow.center.service import ContactCenter
from dipflow.cli.demo import demo_phone_callers
from dipflow.engine.commands import Spoken
from dipflow.engine.events import Event
from dipflow.runtime.config import DipflowConfig, config_from_data
from dipflow.runtime.metrics import RuntimeMetrics
from dipflow.runtime.notices import CallData, CallSummary, RuntimeNotice
from dipflow.runtime.passwords import hash_password

PASSWORDS = {"ava": "ava-pass", "ben": "ben-pass", "sue": "sue-pass"}


def _silence_wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x00" * int(8000 * seconds))
    return out.getvalue()


@dataclass
class FakeAudio:
    key: str
    duration_s: float

    def wav_bytes(self) -> bytes:
        return _silence_wav(self.duration_s)


class FakePrompts:
    def __init__(self) -> None:
        self.rendered: dict[str, FakeAudio] = {}

    def render_text(
        self,
        text: str,
        *,
        language: str,
        voice: str | None,
        rate: float | None = None,
        gain_db: float | None = None,
    ) -> FakeAudio:
        key = f"tts{abs(hash((text, language, voice, rate, gain_db))):x}"
        audio = FakeAudio(key, 0.5 + len(text) / 15)
        self.rendered[key] = audio
        return audio

    def render_spoken(
        self,
        parts: Sequence[Spoken],
        *,
        rate: float | None = None,
        gain_db: float | None = None,
    ) -> FakeAudio:
        return self.render_text(
            " ".join(p.text for p in parts),
            language=parts[0].language,
            voice=parts[0].voice,
            rate=rate,
            gain_db=gain_db,
        )

    def render_audio(self, name: str) -> FakeAudio:
        audio = FakeAudio(f"audio{name}", 3.0)
        self.rendered[audio.key] = audio
        return audio

    async def render_spoken_async(
        self,
        parts: Sequence[Spoken],
        *,
        rate: float | None = None,
        gain_db: float | None = None,
    ) -> FakeAudio:
        return self.render_spoken(parts, rate=rate, gain_db=gain_db)

    async def render_audio_async(self, name: str) -> FakeAudio:
        return self.render_audio(name)

    def get(self, key: str) -> FakeAudio | None:
        return self.rendered.get(key)


@dataclass
class FakeHandle:
    call_id: str
    events: list[Event] = field(default_factory=list)

    def post(self, event: Event) -> None:
        self.events.append(event)


class FakeRuntime:
    """What `create_app` uses of `Runtime`, with a real `ContactCenter` behind it."""

    def __init__(self, config: DipflowConfig) -> None:
        self.config = config
        self.center = ContactCenter(config.center, MemoryCenterStore())
        self.prompts = FakePrompts()
        self.metrics = RuntimeMetrics()
        self.calls: dict[str, tuple[Any, FakeHandle, dict[str, Any]]] = {}
        self.data: dict[str, CallData] = {}
        self.accepted: list[tuple[str, str]] = []
        self.hangups: list[tuple[str, str]] = []
        self._subscribers: list[Callable[[RuntimeNotice], None]] = []

    def start_call(self, channel_call: Any, *, ani: str, dnis: str, channel: str) -> FakeHandle:
        handle = FakeHandle(call_id=f"call{len(self.calls) + 1}")
        self.calls[handle.call_id] = (
            channel_call,
            handle,
            {"ani": ani, "dnis": dnis, "channel": channel},
        )
        return handle

    def subscribe(self, callback: Callable[[RuntimeNotice], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def notify(self, notice: RuntimeNotice) -> None:
        for callback in list(self._subscribers):
            callback(notice)

    def recent_calls(self, limit: int = 50) -> list[CallSummary]:
        return []

    def status(self, name: str) -> list[dict[str, Any]]:
        return []  # no channel reports rows (trunks) to this runtime

    def call_data(self, call_id: str) -> CallData | None:
        return self.data.get(call_id)

    async def agent_accept(self, agent_id: str, call_id: str) -> bool:
        accepted = await self.center.accept(agent_id, call_id)
        if accepted:
            self.accepted.append((agent_id, call_id))
        return bool(accepted)

    async def agent_decline(self, agent_id: str, call_id: str) -> None:
        await self.center.decline(agent_id, call_id)

    async def agent_hangup(self, agent_id: str, call_id: str) -> None:
        self.hangups.append((agent_id, call_id))
        await self.center.end_contact(call_id)


def fake_config() -> DipflowConfig:
    users = [
        {"username": "ava", "agent_id": "a1", "display_name": "Ava", "role": "agent"},
        {"username": "ben", "agent_id": "a2", "display_name": "Ben", "role": "agent"},
        {"username": "sue", "role": "supervisor", "display_name": "Sue"},
    ]
    for user in users:
        user["password_hash"] = hash_password(PASSWORDS[str(user["username"])])
    return config_from_data(
        {
            "flows": [
                {
                    "dnis": "*",
                    "flow": "ms-dynamics-data-dip",
                    "screen_pop_origins": ["https://crm.example"],
                }
            ],
            "center": {
                "queues": [{"name": "Support", "teams": ["support"], "ring_timeout_s": 20}],
                "agents": [
                    {"agent_id": "a1", "name": "Ava", "teams": ["support"]},
                    {"agent_id": "a2", "name": "Ben", "teams": ["support"]},
                ],
                "wrap_up_s": 30,
            },
            "users": users,
            "web": {
                "session_secret": "test-secret-for-signing-cookies-only",
                "allowed_hosts": ["testserver"],  # the TestClient's host name
                "phone_public": True,
                # The demo's picker: the emulator's callers, one with a hostile name.
                "phone_callers": [c.model_dump() for c in demo_phone_callers()],
            },
        }
    )


def csrf_from(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def login(client: TestClient, username: str, password: str | None = None) -> Any:
    page = client.get("/desktop")
    return client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORDS[username] if password is None else password,
            "csrf_token": csrf_from(page.text),
            "next": "/desktop",
        },
        follow_redirects=False,
    )


def session_cookie(client: TestClient, username: str) -> str:
    """A signed-in user's session cookie, as a header for a socket; the client keeps none."""
    login(client, username)
    value = client.cookies.get("dipflow_session")
    assert value
    client.cookies.clear()
    return f"dipflow_session={value}"


def next_message(ws: Any, kind: str) -> dict[str, Any]:
    """The next message of this type on a desktop or phone socket (others skipped)."""
    for _ in range(20):
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")
