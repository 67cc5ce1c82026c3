"""The control plane's side of the media worker: `MediaLink` and `MediaLeg`. Layer 4.

`MediaLink` starts the worker (`media_worker.py`: a child process, a thread, or a task
on this loop, per `SipSettings.media_mode`), sends it commands and routes its events to
the legs' listeners. A `MediaLeg` is the handle a call holds on one RTP session: it
never touches a socket; every method is one small message.

Audio is sent to the worker once per (prompt, codec) and kept there while this side
remembers it (an LRU of `audio_entries`: what falls out is forgotten there too; a
playback in progress keeps its bytes).

Events of a playback that was replaced meanwhile are dropped here: each `play` gets a
new token, and only the token a leg is playing may report `done` or a barge-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sys
import threading
from collections import OrderedDict
from typing import Any, Protocol

from dipflow.channels.errors import ChannelError
from dipflow.channels.sip.digits import DigitMethod
from dipflow.channels.sip.media_worker import (
    Message,
    encode,
    read_message,
    realtime,
    run,
    serve,
)
from dipflow.channels.sip.rtp import DtmfDigit
from dipflow.channels.sip.sdp import Codec, Negotiated
from dipflow.channels.sip.settings import SipSettings

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
"""How long the worker may take to start (a child process imports the media stack)."""

_EMPTY_STATS = {
    "sessions": 0.0, "rtp_packets_timed": 0.0, "rtp_jitter_p50_ms": 0.0,
    "rtp_jitter_p99_ms": 0.0, "rtp_jitter_max_ms": 0.0, "rtp_resyncs": 0.0,
    "media_gc_pause_max_ms": 0.0,
}  # fmt: skip


class LegListener(Protocol):
    """What a leg reports (implemented by `SipCall`)."""

    def on_digit(
        self, leg: MediaLeg, digit: DtmfDigit, method: DigitMethod, *, interrupted: bool
    ) -> None:
        """A DTMF key; `interrupted`: it stopped an interruptible prompt (barge-in)."""

    def on_playback_done(self, leg: MediaLeg) -> None:
        """The last frame of the prompt `leg` was playing is on the wire."""


class _Nobody:
    def on_digit(
        self, leg: MediaLeg, digit: DtmfDigit, method: DigitMethod, *, interrupted: bool
    ) -> None:
        pass

    def on_playback_done(self, leg: MediaLeg) -> None:
        pass


class MediaLeg:
    """One RTP session in the worker, as a call sees it."""

    def __init__(self, link: MediaLink, leg: int, port: int) -> None:
        self.link = link
        self.leg = leg
        self.port = port
        self.codec = Codec.PCMU
        self.listener: LegListener = _Nobody()
        self.bridged: MediaLeg | None = None
        self._sending = False
        self._token = 0
        self.playing = False
        """A prompt or music is playing (as far as this side knows)."""
        self.closed = False

    def configure(self, negotiated: Negotiated) -> None:
        self.codec = negotiated.codec
        self.link.send(("configure", self.leg, negotiated.remote_address,
                        negotiated.remote_port, int(negotiated.codec),
                        negotiated.dtmf_payload_type))  # fmt: skip

    @property
    def sending(self) -> bool:
        """Paced only once answered, and not while the peer holds us (RFC 3264 §8.4)."""
        return self._sending

    @sending.setter
    def sending(self, on: bool) -> None:
        if on != self._sending:
            self._sending = on
            self.link.send(("sending", self.leg, on))

    def play(self, key: str, audio: bytes, *, loop: bool, interruptible: bool) -> None:
        """Play `audio` (G.711 in this leg's codec, cached in the worker under `key`)."""
        self.link.load(key, audio)
        self._token += 1
        self.playing = True
        self.link.send(("play", self.leg, key, self._token, loop, interruptible))

    def stop(self) -> None:
        self._token += 1
        if self.playing:
            self.playing = False
            self.link.send(("stop", self.leg))

    def bridge(self, other: MediaLeg) -> None:
        """Relay: each leg sends what the other received (what either played stops)."""
        self._token += 1
        other._token += 1
        self.playing = other.playing = False
        self.bridged, other.bridged = other, self
        self.link.send(("bridge", self.leg, other.leg))

    def confirm(self) -> None:
        """The dialog is confirmed (the ACK of our 2xx, or the peer's 2xx to our INVITE):
        our media may flow to the peer (`latch.py`)."""
        self.link.send(("confirm", self.leg))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.link.close_leg(self)

    # -- from the worker --

    def _digit(self, digit: str, interrupted: int | None, method: str) -> None:
        stopped = interrupted is not None and interrupted == self._token and self.playing
        if stopped:
            self.playing = False
        self.listener.on_digit(self, DtmfDigit(digit), DigitMethod(method), interrupted=stopped)

    def _done(self, token: int) -> None:
        if token == self._token and self.playing:
            self.playing = False
            self.listener.on_playback_done(self)


class MediaLink:
    """The worker and the legs: `await start()`, `await open()` per leg, `await stop()`."""

    def __init__(self, settings: SipSettings, *, audio_entries: int = 256) -> None:
        self.settings = settings
        self._audio_entries = audio_entries
        self._audio: OrderedDict[str, None] = OrderedDict()
        self._legs: dict[int, MediaLeg] = {}
        self._opening: dict[int, asyncio.Future[int]] = {}
        self._next_leg = 0
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._stats: dict[str, float] = dict(_EMPTY_STATS)

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id (mode "process"), for monitoring."""
        return self._process.pid if self._process is not None else None

    # -- lifecycle --

    async def start(self) -> None:
        settings = self.settings
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        config: dict[str, Any] = {
            "host": settings.host, "rtp_port_min": settings.rtp_port_min,
            "rtp_port_max": settings.rtp_port_max, "loop": settings.media_loop,
            "realtime_priority": settings.media_realtime_priority,
            "freeze_gc": settings.freeze_gc_after_start,
            "latch_window_s": settings.rtp_latch_window_s,
            "amplification_factor": settings.amplification_factor,
            "tracked_sources": settings.tracked_sources,
        }  # fmt: skip
        mode = settings.media_mode
        if mode == "process":
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "dipflow.channels.sip.media_worker",
                "--fd", str(theirs.fileno()), "--config", json.dumps(config),
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            theirs.close()
        elif mode == "thread":
            config["freeze_gc"] = False  # one heap for both threads: tuning.py freezes it

            def media_thread() -> None:
                realtime(settings.media_realtime_priority)  # this thread only (Linux)
                run(serve(theirs, config), settings.media_loop)

            self._thread = threading.Thread(target=media_thread, name="sip-media", daemon=True)
            self._thread.start()
        else:
            config["freeze_gc"] = False
            self._worker_task = asyncio.get_running_loop().create_task(
                serve(theirs, config), name="sip-media"
            )
        reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        # Calls are taken only once the worker runs: a worker that cannot start is an
        # error at start-up, not calls waiting for ports that never come.
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                hello = await read_message(reader)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            await self.stop()
            raise ChannelError(f"the SIP media worker did not start ({mode}): {exc!r}") from exc
        if hello[0] != "ready":
            await self.stop()
            raise ChannelError(f"the SIP media worker said {hello[0]!r} instead of 'ready'")
        self._reader_task = asyncio.get_running_loop().create_task(
            self._read(reader), name="sip-media-events"
        )

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        if self._process is not None:  # it ends when its socket closes
            try:
                await asyncio.wait_for(self._process.wait(), 5)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
        if self._worker_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._worker_task, 5)
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        for future in self._opening.values():
            if not future.done():
                future.set_result(0)

    # -- commands --

    def send(self, message: Message) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(encode(message))

    def verify(self, ip: str) -> None:
        """The signalling proved `ip` (it echoed our tag, registered, answered us): the
        worker's ledger lets media go there freely (latch.py)."""
        self.send(("verify", ip))

    async def open(self, *, signalling_ip: str | None = None) -> MediaLeg | None:
        """A new session on a free RTP port; None when the range is exhausted.
        `signalling_ip`: where the leg's SIP comes from (a hint for RTP latching)."""
        self._next_leg += 1
        leg = self._next_leg
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._opening[leg] = future
        if self._writer is None or self._writer.is_closing():
            return None  # no worker (stopped, or it died): 503 for the caller
        self.send(("open", leg, signalling_ip))
        try:
            port = await future
        finally:
            self._opening.pop(leg, None)
        if not port:
            return None
        media_leg = MediaLeg(self, leg, port)
        self._legs[leg] = media_leg
        return media_leg

    def load(self, key: str, audio: bytes) -> None:
        """Make sure the worker holds `audio` as `key`."""
        if key in self._audio:
            self._audio.move_to_end(key)
            return
        self.send(("audio", key, audio))
        self._audio[key] = None
        while len(self._audio) > self._audio_entries:
            old, _ = self._audio.popitem(last=False)
            self.send(("forget", old))

    def close_leg(self, leg: MediaLeg) -> None:
        self._legs.pop(leg.leg, None)
        if leg.bridged is not None and leg.bridged.bridged is leg:
            leg.bridged.bridged = None
        self.send(("close", leg.leg))

    def reset_stats(self) -> None:
        self._stats = dict(_EMPTY_STATS)
        self.send(("reset",))

    @property
    def stats(self) -> dict[str, float]:
        """The worker's latest counters (it reports twice a second)."""
        return dict(self._stats)

    # -- events --

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                message = await read_message(reader)
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                if self._writer is not None and not self._writer.is_closing():
                    log.error("the SIP media worker stopped: calls have no audio")
                    self._writer.close()
                for future in self._opening.values():  # new calls get 503, not silence
                    if not future.done():
                        future.set_result(0)
                return
            try:
                self._event(message)
            except Exception:  # a bug in one call must not stop the events of all
                log.exception("media event %r failed", message[0])

    def _event(self, message: Message) -> None:
        kind = message[0]
        if kind == "stats":
            self._stats = {str(k): float(v) for k, v in message[1].items()}
            return
        if kind == "opened":
            future = self._opening.get(int(message[1]))
            if future is not None and not future.done():
                future.set_result(int(message[2]))
            return
        leg = self._legs.get(int(message[1]))
        if leg is None:
            return  # closed here meanwhile
        if kind == "digit":
            leg._digit(str(message[2]), message[3], str(message[4]))
        elif kind == "done":
            leg._done(int(message[2]))
