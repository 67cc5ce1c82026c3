"""The control plane's side of the media worker: `MediaLink` and `MediaLeg`. Layer 4.

`MediaLink` starts the worker (`media_worker.py`: a child process or a thread, per
`SipSettings.media_mode`; with "inline" the channel has no link and paces `RtpSession`s
itself, and a link built with it runs the worker as a task on this loop, for tests),
sends it commands and routes its events to the legs' listeners. A `MediaLeg` is the
handle a call holds on one RTP session: it never touches a socket; every change is one
small message.

Audio is sent to the worker once per content and kept there while this side remembers
it (an LRU of `audio_entries`: what falls out is forgotten there too; a playback in
progress keeps its bytes).

Events of a playback that was replaced meanwhile are dropped here: each `play` gets a
new token, and only the token a leg is playing may report `done`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import socket
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from dipflow.channels.errors import ChannelError
from dipflow.channels.seam import MediaQuality
from dipflow.channels.sip.digits import DigitMethod
from dipflow.channels.sip.events import Address
from dipflow.channels.sip.media import Playback
from dipflow.channels.sip.media_wire import Message, Outbox, read_message, reap
from dipflow.channels.sip.media_worker import run, serve
from dipflow.channels.sip.rtp import DtmfDigit
from dipflow.channels.sip.scheduling import media_class
from dipflow.channels.sip.sdp import Codec, Negotiated
from dipflow.channels.sip.settings import SipSettings
from dipflow.channels.sip.srtp import SrtpContext

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
"""How long the worker may take to start (a child process imports the media stack)."""

_EMPTY_STATS = {
    "sessions": 0.0, "rtp_packets_timed": 0.0, "rtp_jitter_p50_ms": 0.0,
    "rtp_jitter_p99_ms": 0.0, "rtp_jitter_max_ms": 0.0, "rtp_resyncs": 0.0,
    "media_gc_pause_max_ms": 0.0, "kernel_relay": 0.0, "kernel_relayed_legs": 0.0,
    "kernel_relayed_packets": 0.0, "thinned_legs": 0.0,
}  # fmt: skip


class LegListener(Protocol):
    """What a leg reports (implemented by `SipCall`, as for an in-loop `RtpSession`)."""

    def on_digit(self, session: MediaLeg, digit: DtmfDigit, method: DigitMethod) -> None:
        """A key (RFC 4733, or tones: `method`)."""

    def on_playback_done(self, session: MediaLeg, playback: Playback) -> None:
        """The last frame of `playback` is on the wire."""


class _Nobody:
    def on_digit(self, session: MediaLeg, digit: DtmfDigit, method: DigitMethod) -> None:
        pass

    def on_playback_done(self, session: MediaLeg, playback: Playback) -> None:
        pass


class _Peer:
    """The leg's `MediaPeer` lives in the worker: the dialog's confirmation goes there."""

    def __init__(self, leg: MediaLeg) -> None:
        self._leg = leg

    def confirm(self) -> None:
        self._leg.link.send(("confirm", self._leg.leg))


class _Taps(list[Callable[[int, bytes], None]]):
    """Who also hears the caller's audio: the worker forwards it only while there is one."""

    def __init__(self, leg: MediaLeg) -> None:
        super().__init__()
        self._leg = leg

    def append(self, tap: Callable[[int, bytes], None]) -> None:
        super().append(tap)
        if len(self) == 1:
            self._leg.link.send(("tap", self._leg.leg, True))

    def remove(self, tap: Callable[[int, bytes], None]) -> None:
        super().remove(tap)
        if not self:
            self._leg.link.send(("tap", self._leg.leg, False))


class _Quality:
    """The leg's RTP statistics as the worker last reported them (with each RTCP report it
    sends: a call's final figures are up to one report interval old)."""

    def __init__(self) -> None:
        self.latest: dict[str, Any] = {}

    def quality(self, leg: str) -> MediaQuality:
        if not self.latest:
            return MediaQuality(leg=leg, packets_sent=0, packets_received=0, packets_lost=0,
                                loss_fraction=0.0, jitter_ms=0.0)  # fmt: skip
        return MediaQuality(**{**self.latest, "leg": leg})


class _Reports:
    """The leg's RTCP runs in the worker (`rtcp_io.py` there); the call is told after each
    report, as with an in-loop session."""

    def __init__(self, leg: MediaLeg) -> None:
        self._leg = leg
        self.state = _Quality()
        self.on_report: Callable[[], None] | None = None

    def start(self, interval_s: float) -> None:
        self._leg.link.send(("rtcp", self._leg.leg, interval_s))


class MediaLeg:
    """One RTP session in the worker, as a call sees it: the surface of `RtpSession` the
    channel uses, each change one small message. What is playing is mirrored here (events
    come in order: a prompt's end is known before a key that follows it)."""

    def __init__(self, link: MediaLink, leg: int, port: int) -> None:
        self.link = link
        self.leg = leg
        self.port = port
        self.codec = Codec.PCMU
        self.listener: LegListener = _Nobody()
        self.peer = _Peer(self)
        self.taps = _Taps(self)
        self.rtcp_reports = _Reports(self)
        self._bridge: MediaLeg | None = None
        self._sending = False
        self._listens_for_keys = False
        self._srtp: SrtpContext | None = None
        self._token = 0
        self._playback: Playback | None = None
        self.closed = False
        # What the worker last reported of the peer's RTP (every ALIVE_INTERVAL_S): the
        # figures the RTP watchdog reads of an in-loop session (watchdog.py).
        self.remote: Address | None = None
        self.packets_received = 0
        self.packets_sent = 0
        self.last_received = 0.0
        self.refused_since: float | None = None
        self.refused_last = 0.0

    def configure(self, negotiated: Negotiated) -> None:
        self.codec = negotiated.codec
        # Every field, as plain data (marshal takes no enums): a new one travels as well.
        fields = dataclasses.asdict(negotiated)
        fields.update(codec=int(negotiated.codec), direction=negotiated.direction.value,
                      crypto=tuple(negotiated.crypto))  # fmt: skip
        self.link.send(("configure", self.leg, fields))

    @property
    def sending(self) -> bool:
        """Paced only once answered, and not while the peer holds us (RFC 3264 §8.4)."""
        return self._sending

    @sending.setter
    def sending(self, on: bool) -> None:
        if on != self._sending:
            self._sending = on
            self.link.send(("sending", self.leg, on))

    @property
    def listens_for_keys(self) -> bool:
        """The caller's leg: keys drive the flow (tones are listened for without RFC 4733)."""
        return self._listens_for_keys

    @listens_for_keys.setter
    def listens_for_keys(self, on: bool) -> None:
        if on != self._listens_for_keys:
            self._listens_for_keys = on
            self.link.send(("keys", self.leg, on))

    @property
    def srtp(self) -> SrtpContext | None:
        return self._srtp

    @srtp.setter
    def srtp(self, context: SrtpContext | None) -> None:
        # The worker builds its own context from the suite and both keys (libsrtp's
        # sessions cannot cross a process boundary); this one stays for re-offers.
        self._srtp = context
        if context is None:
            self.link.send(("srtp", self.leg, None, b"", b"", 0))
        else:
            self.link.send(("srtp", self.leg, context.suite, context.local_key,
                            context.remote_key, context.tag))  # fmt: skip

    @property
    def bridge(self) -> MediaLeg | None:
        """The leg whose received audio this one sends (relay)."""
        return self._bridge

    @bridge.setter
    def bridge(self, other: MediaLeg | None) -> None:
        self._bridge = other
        self.link.send(("bridge", self.leg, other.leg if other is not None else 0))

    @property
    def playback(self) -> Playback | None:
        """What plays (until the worker reports its end, or it is replaced or stopped)."""
        return self._playback

    def play(self, playback: Playback | None) -> None:
        """Play `playback` (replacing what played), or stop (None)."""
        self._token += 1
        if playback is None:
            if self._playback is not None:
                self._playback = None
                self.link.send(("stop", self.leg))
            return
        key = self.link.load(playback.audio)
        self._playback = playback
        codec = int(playback.codec) if playback.codec is not None else None
        self.link.send(("play", self.leg, key, self._token, playback.loop,
                        playback.interruptible, codec))  # fmt: skip

    def connect_peer(self) -> Address | None:
        """Ask the worker to connect the leg's socket to the peer (watchdog.py); where it
        will be connected, as last reported (the worker connects to the peer it has then)."""
        if self.remote is None or not self.packets_received:
            return None
        self.link.send(("connect", self.leg))
        return self.remote

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._playback = None
            self.link.close_leg(self)

    # -- from the worker --

    def _digit(self, digit: str, method: str) -> None:
        self.listener.on_digit(self, DtmfDigit(digit), DigitMethod(method))

    def _done(self, token: int) -> None:
        playback = self._playback
        if token == self._token and playback is not None:
            self._playback = None
            self.listener.on_playback_done(self, playback)

    def _quality(self, figures: dict[str, Any]) -> None:
        self.rtcp_reports.state.latest = figures
        if self.rtcp_reports.on_report is not None:
            self.rtcp_reports.on_report()

    def _alive(self, figures: tuple[Any, ...]) -> None:
        remote, received, last, refused_since, refused_last, sent = figures
        self.packets_received, self.packets_sent = int(received), int(sent)
        self.last_received, self.refused_last = float(last), float(refused_last)
        self.remote = None if remote is None else (str(remote[0]), int(remote[1]))
        self.refused_since = None if refused_since is None else float(refused_since)

    def _heard(self, payload_type: int, payload: bytes) -> None:
        for tap in tuple(self.taps):
            tap(payload_type, payload)


class MediaLink:
    """The worker and the legs: `await start()`, `await open()` per leg, `await stop()`."""

    def __init__(self, settings: SipSettings, *, audio_entries: int = 256) -> None:
        self.settings = settings
        self._audio_entries = audio_entries
        self._audio: OrderedDict[str, bytes] = OrderedDict()
        self._by_id: dict[int, tuple[bytes, str]] = {}
        self._legs: dict[int, MediaLeg] = {}
        self._opening: dict[int, asyncio.Future[int]] = {}
        self._next_leg = 0
        self._writer: asyncio.StreamWriter | None = None
        self._outbox: Outbox | None = None
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
            "slice_us": settings.media_slice_us,
            "freeze_gc": settings.freeze_gc_after_start,
            "latch_window_s": settings.rtp_latch_window_s,
            "amplification_factor": settings.amplification_factor,
            "tracked_sources": settings.tracked_sources,
            "kernel_relay": settings.kernel_relay,
            "thin_unheard_audio": settings.thin_unheard_audio,
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
                # For this thread only (Linux schedules threads).
                media_class(settings.media_realtime_priority, settings.media_slice_us)
                run(serve(theirs, config), settings.media_loop)

            self._thread = threading.Thread(target=media_thread, name="sip-media", daemon=True)
            self._thread.start()
        else:
            config["freeze_gc"] = False
            self._worker_task = asyncio.get_running_loop().create_task(
                serve(theirs, config), name="sip-media"
            )
        reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        self._outbox = Outbox(self._writer)
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
        if self._outbox is not None:
            self._outbox.flush()  # a leg's last commands (close) still reach the worker
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        if self._process is not None:  # it ends when its socket closes
            await reap(self._process)
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
        if self._outbox is not None:
            self._outbox.send(message)

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

    def load(self, audio: bytes) -> str:
        """Make sure the worker holds `audio`; its key there. The renderer's cache hands
        every call the same bytes object for one prompt: known objects are found by
        identity (held here, so an id cannot be reused), new ones by content."""
        known = self._by_id.get(id(audio))
        if known is not None and known[0] is audio:
            key = known[1]
        else:
            key = hashlib.blake2b(audio, digest_size=16).hexdigest()
            if len(self._by_id) >= 4 * self._audio_entries:
                self._by_id.clear()  # an index, not the audio: it only has to stay bounded
        if key in self._audio:
            self._audio.move_to_end(key)
            self._by_id[id(audio)] = (audio, key)
            return key
        self.send(("audio", key, audio))
        self._audio[key] = audio
        self._by_id[id(audio)] = (audio, key)
        while len(self._audio) > self._audio_entries:
            old, _ = self._audio.popitem(last=False)
            self._by_id = {k: v for k, v in self._by_id.items() if v[1] != old}
            self.send(("forget", old))
        return key

    def close_leg(self, leg: MediaLeg) -> None:
        self._legs.pop(leg.leg, None)
        other = leg.bridge
        if other is not None and other.bridge is leg:
            other._bridge = None  # the worker unbridges it as it closes this leg
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
        if kind == "alive":
            for leg_id, figures in message[1].items():
                known = self._legs.get(int(leg_id))
                if known is not None:
                    known._alive(tuple(figures))
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
            leg._digit(str(message[2]), str(message[3]))
        elif kind == "done":
            leg._done(int(message[2]))
        elif kind == "quality":
            leg._quality(dict(message[2]))
        elif kind == "heard":
            leg._heard(int(message[2]), bytes(message[3]))
