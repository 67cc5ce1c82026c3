"""The media worker: RTP sockets, the pacer, playback, DTMF and relay. Layer 4 (channels).

The worker owns every RTP session of the channel and nothing else: no SIP, no flows, no
rendering, no HTTP. The control plane (`media_link.MediaLink`) talks to it over one Unix
stream socket in small `marshal`-encoded tuples (commands in, events out), so the
pacer's deadlines never wait behind signalling, the engine, the runtime or a prompt
being rendered. Where it runs is `SipSettings.media_mode`:

* `"process"` (default): a child process (`python -m dipflow.channels.sip.media_worker`)
  with its own interpreter, GIL and garbage collector; it can be given the real-time
  scheduling class (`media_realtime_priority`) as media servers usually are;
* `"thread"`: a thread of the server process with its own event loop (shares the GIL);
* `"inline"`: a task on the server's own loop (the layout before the worker existed).

The three run this same code; `bench/sip.py` measures them against each other and
`docs/sip.md` says why the process is the default.

Commands (control plane -> worker), each a tuple whose first item names it; they mirror
what the channel does to an in-loop `RtpSession` (the worker runs that same class):
``("open", leg, signalling_ip)``, ``("configure", leg, {the Negotiated's fields})``,
``("confirm", leg)`` (the dialog is confirmed: media may flow, `latch.py`),
``("verify", ip)`` (the signalling proved `ip`: the worker's amplification ledger lets
media go to it freely), ``("sending", leg, on)``, ``("keys", leg, on)`` (the caller's
leg: listen for tones without RFC 4733), ``("srtp", leg, suite, local_key, remote_key,
tag)`` (suite None: plain RTP), ``("tap", leg, on)``, ``("rtcp", leg, interval_s)``
(start RTCP reports), ``("audio", key, data)``, ``("forget", key)``,
``("play", leg, key, token, loop, interruptible, codec)``, ``("stop", leg)``,
``("bridge", leg, other)`` (0: none), ``("connect", leg)`` (connect the socket to the
peer, for ICMP errors: watchdog.py), ``("close", leg)``, ``("reset",)``, ``("stats",)``.

Events (worker -> control plane): ``("ready", pid)`` once, first;
``("opened", leg, port)`` (port 0: none free),
``("digit", leg, digit, method)``, ``("done", leg, token)``,
``("heard", leg, payload_type, payload)`` (a tapped leg's audio),
``("quality", leg, {...})`` (its `MediaQuality` figures, after each RTCP report),
``("stats", {...})`` (every `STATS_INTERVAL_S`, and on request),
``("alive", {leg: (remote, packets_received, last_received, refused_since,
refused_last, packets_sent)})`` (each leg once every `ALIVE_INTERVAL_S`, a tenth of the
legs at a time: what the RTP watchdog checks, and the counters).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from dipflow.channels.sip import thinning
from dipflow.channels.sip.digits import DigitMethod
from dipflow.channels.sip.kernel_bridges import COUNT_INTERVAL_S, KernelBridges
from dipflow.channels.sip.kernel_link import KernelLink
from dipflow.channels.sip.media import (
    MediaClock,
    Playback,
    PortAllocator,
    RtpSession,
    SessionListener,
    open_session,
)
from dipflow.channels.sip.media_wire import Message, Outbox, read_message
from dipflow.channels.sip.nftables import NftablesError
from dipflow.channels.sip.protection import AmplificationGuard
from dipflow.channels.sip.rtp import DtmfDigit
from dipflow.channels.sip.scheduling import media_class
from dipflow.channels.sip.sdp import Codec, Direction, Negotiated
from dipflow.channels.sip.srtp import SrtpContext

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 0.5
FREEZE_INTERVAL_S = 10.0
"""With `freeze_gc`: how often the worker moves what it holds out of the collector's
sight (`age_out`)."""
ALIVE_INTERVAL_S = 1.0
ALIVE_PARTS = 10
ALIVE_TICK_S = ALIVE_INTERVAL_S / ALIVE_PARTS
"""How often each leg's receive figures go to the control plane (its RTP watchdog sweeps
once a second: watchdog.py)."""
_RELEASING = frozenset({"configure", "srtp", "tap", "sending", "bridge"})
"""Commands that may disqualify a kernel-relayed pair: it comes back to Python first
(closing a leg releases it in `_close`, which stopping the worker takes too). They also
give a thinned leg every packet again, until the next check."""


def unheard(session: RtpSession, now: float) -> bool:
    """Whether nobody hears this leg's audio, so the kernel may thin it (`thinning.py`):
    not bridged (nor relayed by the kernel), not tapped, no tones to listen for (its keys
    come as RFC 4733 events, or it listens for none), plain RTP in a static codec, and
    its peer settled (latched, the learning window closed), so the few packets let
    through keep it so."""
    return (
        session.bridge is None and not session.kernel_relayed and not session.taps
        and session.inband is None and session.srtp is None
        and int(session.codec) in thinning.AUDIO_PAYLOAD_TYPES
        and session.peer.confirmed and session.peer.settled(now)
    )  # fmt: skip


class MediaWorker(SessionListener):
    """The sessions, the audio they play, and the clock that paces them."""

    def __init__(
        self, config: dict[str, Any], emit: Callable[[Message], None]
    ) -> None:  # fmt: skip
        self.host = str(config["host"])
        self.emit = emit
        self.clock = MediaClock()
        self.ports = PortAllocator(int(config["rtp_port_min"]), int(config["rtp_port_max"]))
        self.sessions: dict[int, RtpSession] = {}
        self.legs: dict[RtpSession, int] = {}
        # The worker's own ledger (latch.py): it counts the RTP each address sent here, and
        # learns from the control plane (`verify`) which IPs the signalling proved.
        self.ledger = AmplificationGuard(
            factor=float(config.get("amplification_factor", 3.0)),
            max_keys=int(config.get("tracked_sources", 10000)),
        )
        self.latch_window_s = float(config.get("latch_window_s", 2.0))
        self.audio: dict[str, bytes] = {}
        self.gc_pause_max_s = 0.0
        self._gc_started = 0.0
        self.kernel_relay = str(config.get("kernel_relay", "off"))
        self.thin_unheard_audio = bool(config.get("thin_unheard_audio", False))

        self.bridges: KernelBridges | None = None
        """Bridged pairs the kernel relays (`kernel_bridges.py`); None: all in Python."""

    # -- lifecycle --

    def start(self) -> None:
        self.clock.start()
        gc.callbacks.append(self._on_gc)

    async def start_kernel_relay(self) -> None:
        """With `kernel_relay` "auto": start the helper that keeps the kernel's table."""
        if self.kernel_relay != "auto":
            return
        try:
            self.bridges = KernelBridges(await KernelLink.start(), self.clock)
        except NftablesError as exc:
            log.warning("media worker: bridged calls relay in Python, not in the kernel "
                        "(%s: docs/sip.md, kernel relay)", exc)  # fmt: skip

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_gc)
        await self.clock.stop()
        for leg in list(self.sessions):
            await self._close(leg)
        if self.bridges is not None:
            await self.bridges.close()
            self.bridges = None

    async def sync_bridges(self) -> None:
        """Hand qualifying bridged pairs to the kernel, take back those that stopped."""
        if self.bridges is not None:
            await self.bridges.sync(list(self.sessions.values()))

    def thin_unheard(self) -> None:
        """Thin the audio of legs nobody hears; give back every packet to the others."""
        if not self.thin_unheard_audio:
            return
        now = time.monotonic()
        for session in self.sessions.values():
            session.thin(thinning.KEEP_ONE_IN if unheard(session, now) else 0)

    async def count_relayed(self) -> None:
        """What the kernel forwarded counts as received (for the RTP watchdog)."""
        bridges = self.bridges
        if bridges is None or not bridges.pairs:
            return
        bridges.count(await bridges.link.counters())

    def _on_gc(self, phase: str, _info: dict[str, int]) -> None:
        # Collections stop this process's pacer: the longest one is reported in the stats.
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pause_max_s = max(self.gc_pause_max_s, time.perf_counter() - self._gc_started)

    # -- commands --

    async def handle(self, message: Message) -> None:
        kind = message[0]
        if kind == "open":
            signalling_ip = message[2] if len(message) > 2 else None
            await self._open(int(message[1]), None if signalling_ip is None else str(signalling_ip))
            return
        if kind == "verify":
            self.ledger.verify(str(message[1]))
            return
        if kind == "audio":
            self.audio[str(message[1])] = bytes(message[2])
            return
        if kind == "forget":
            self.audio.pop(str(message[1]), None)
            return
        if kind == "stats":
            self.emit(("stats", self.stats()))
            return
        if kind == "reset":
            self.clock.jitter.reset()
            if self.bridges is not None:
                self.bridges.forwarded = 0
            self.gc_pause_max_s = 0.0
            return
        session = self.sessions.get(int(message[1]))
        if session is None:
            return  # closed meanwhile: commands in flight for it are moot
        if kind in _RELEASING:
            session.thin(0)
            if self.bridges is not None:
                self.bridges.release(session)
        if kind == "configure":
            fields = dict(message[2])
            fields.update(codec=Codec(fields["codec"]), direction=Direction(fields["direction"]),
                          crypto=tuple(fields["crypto"]))  # fmt: skip
            session.configure(Negotiated(**fields))
        elif kind == "keys":
            session.listens_for_keys = bool(message[2])
        elif kind == "srtp":
            _, _, suite, local_key, remote_key, tag = message
            session.srtp = (
                None if suite is None
                else SrtpContext(str(suite), bytes(local_key), bytes(remote_key), int(tag))
            )  # fmt: skip
        elif kind == "rtcp":
            leg = self.legs[session]
            session.rtcp_reports.on_report = lambda: self._report(leg, session)
            session.rtcp_reports.start(float(message[2]))
        elif kind == "tap":
            session.taps[:] = [self._forwarder(self.legs[session])] if message[2] else []
        elif kind == "connect":
            session.connect_peer()
        elif kind == "confirm":
            session.peer.confirm()
        elif kind == "sending":
            session.sending = bool(message[2])
        elif kind == "play":
            _, leg, key, token, loop, interruptible, codec = message
            audio = self.audio.get(key)
            if audio is None:  # the link sends audio before it is played: a bug if not
                log.error("media worker: no audio %r for leg %s", key, leg)
                self.emit(("done", leg, token))
                return
            # The playback carries the link's token: `done` and barge-in echo it.
            session.play(Playback(prompt_id=str(token), audio=audio, loop=bool(loop),
                                  interruptible=bool(interruptible),
                                  codec=None if codec is None else Codec(codec)))  # fmt: skip
        elif kind == "stop":
            session.play(None)
        elif kind == "bridge":
            session.bridge = self.sessions.get(int(message[2]))
        elif kind == "close":
            await self._close(self.legs[session])
        else:
            log.error("media worker: unknown command %r", kind)

    async def _open(self, leg: int, signalling_ip: str | None) -> None:
        session = await open_session(
            self.host, self.ports, self, ledger=self.ledger,
            latch_window_s=self.latch_window_s, signalling_ip=signalling_ip,
        )  # fmt: skip
        if session is None:
            self.emit(("opened", leg, 0))
            return
        self.legs[session] = leg
        self.sessions[leg] = session
        self.clock.add(session)
        self.emit(("opened", leg, session.port))

    async def _close(self, leg: int) -> None:
        session = self.sessions.pop(leg, None)
        if session is None:
            return
        self.legs.pop(session, None)
        if self.bridges is not None:
            self.bridges.forget(session)
        session.rtcp_reports.on_report = None  # its closure holds the session: a cycle
        bridged = session.bridge
        if bridged is not None and bridged.bridge is session:
            bridged.bridge = None
        self.clock.remove(session)
        session.close()
        # The transport closes its socket on the loop's next turn: the port is free for
        # the next `open` (the next command) only after it.
        await asyncio.sleep(0)
        self.ports.release(session.port)

    # -- SessionListener: events for the control plane --

    def _report(self, leg: int, session: RtpSession) -> None:
        figures = dataclasses.asdict(session.rtcp_reports.state.quality(""))
        self.emit(("quality", leg, figures))

    def _forwarder(self, leg: int) -> Callable[[int, bytes], None]:
        def heard(payload_type: int, payload: bytes) -> None:
            self.emit(("heard", leg, payload_type, payload))

        return heard

    def on_digit(self, session: RtpSession, digit: DtmfDigit, method: DigitMethod) -> None:
        # Barge-in is the call's to decide (which route its keys come by, whether it is
        # bridged): it answers with `stop`, one round trip later, as an in-loop call would.
        self.emit(("digit", self.legs[session], digit.value, method.value))

    def on_playback_done(self, session: RtpSession, playback: Playback) -> None:
        if playback.prompt_id is not None:
            self.emit(("done", self.legs[session], int(playback.prompt_id)))

    def alive(self, part: int = 0, parts: int = 1) -> dict[int, tuple[Any, ...]]:
        """The peer and receive figures of every `parts`-th leg from `part`, for the
        control plane's RTP watchdog. In parts: for a thousand legs the whole takes
        ~3 ms to build and encode, a stall the pacer would see once a second."""
        return {
            leg: (
                s.remote,
                s.packets_received,
                s.last_received,
                s.refused_since,
                s.refused_last,
                s.packets_sent,
            )
            for leg, s in self.sessions.items()
            if leg % parts == part
        }

    def stats(self) -> dict[str, float]:
        jitter = self.clock.jitter
        return {
            "sessions": float(len(self.sessions)),
            "rtp_packets_timed": float(jitter.count),
            "rtp_jitter_p50_ms": jitter.percentile(50) * 1000,
            "rtp_jitter_p99_ms": jitter.percentile(99) * 1000,
            "rtp_jitter_max_ms": jitter.percentile(100) * 1000,
            "rtp_resyncs": float(self.clock.resyncs),
            "media_gc_pause_max_ms": self.gc_pause_max_s * 1000,
            "kernel_relay": float(self.bridges is not None),
            "kernel_relayed_legs": float(self.bridges.legs if self.bridges is not None else 0),
            "kernel_relayed_packets": float(self.bridges.forwarded if self.bridges else 0),
            "thinned_legs": float(sum(1 for s in self.sessions.values() if s.thinned)),
        }


async def serve(sock: socket.socket, config: dict[str, Any]) -> None:
    """Run a worker on `sock` until the control plane closes it."""
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    outbox = Outbox(writer)
    emit = outbox.send

    worker = MediaWorker(config, emit)
    worker.start()
    await worker.start_kernel_relay()
    freezing = bool(config.get("freeze_gc"))
    if freezing:
        gc.freeze()  # what start-up built is never scanned again (see tuning.py)

    async def report() -> None:
        # One tick per alive part: each leg's figures once per ALIVE_INTERVAL_S.
        ticks_per_stats = round(STATS_INTERVAL_S / ALIVE_TICK_S)
        ticks_per_count = round(COUNT_INTERVAL_S / ALIVE_TICK_S)
        ticks_per_freeze = round(FREEZE_INTERVAL_S / ALIVE_TICK_S)
        tick = 0
        while True:
            await asyncio.sleep(ALIVE_TICK_S)
            tick += 1
            part = tick % ALIVE_PARTS
            if worker.sessions:
                emit(("alive", worker.alive(part, ALIVE_PARTS)))
            if tick % ticks_per_stats == 0:
                await worker.sync_bridges()
                worker.thin_unheard()
                emit(("stats", worker.stats()))
            if tick % ticks_per_count == 0:
                await worker.count_relayed()
            if freezing and tick % ticks_per_freeze == 0:
                age_out()

    reporter = asyncio.get_running_loop().create_task(report(), name="media-stats")
    emit(("ready", os.getpid()))
    outbox.flush()
    try:
        while True:
            try:
                message = await read_message(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                break  # the control plane is gone: so are its calls
            try:
                await worker.handle(message)
            except Exception:  # one bad command must not stop everybody's audio
                log.exception("media worker: command %r failed", message[0])
    finally:
        reporter.cancel()
        await worker.stop()
        writer.close()


def age_out() -> None:
    """Collect the young generations, then freeze what survives. A call's sessions live
    for minutes: left to the collector, each time the old generation grows by a quarter a
    full collection scans all of them (at a thousand calls, pauses of 10-50 ms: the
    pacer stops meanwhile). Frozen objects are still freed by reference counting when a
    call ends; a closed leg leaves no reference cycle (`rtcp_io.py` holds it weakly, the
    worker drops its report callback), so nothing frozen waits for the collector."""
    gc.collect(1)
    gc.freeze()


def run(coroutine: Any, loop_kind: str) -> None:
    """Run `coroutine` on a new event loop of `loop_kind` ("asyncio" or "uvloop"; asyncio
    where uvloop is not installed: it comes with uvicorn[standard], not on every platform)."""
    if loop_kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("media worker: uvloop is not installed, using asyncio")
        else:
            uvloop.run(coroutine)
            return
    asyncio.run(coroutine)


def main() -> None:
    parser = argparse.ArgumentParser(description="dipflow SIP media worker (started by SipServer)")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    config = json.loads(args.config)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    media_class(int(config.get("realtime_priority", 0)), int(config.get("slice_us", 0)))
    sock = socket.socket(fileno=args.fd)
    run(serve(sock, config), str(config.get("loop", "asyncio")))


if __name__ == "__main__":
    main()
