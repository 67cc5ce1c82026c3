"""Prompt rendering with a content-addressed cache. Layer 3 (media).

A prompt is rendered once (TTS or a WAV file, resampled to 8 kHz, normalised)
and kept in memory (LRU) and, with a `cache_dir`, on disk as `<key>.wav`. The
key is the SHA-256 of what determines the audio, so identical prompts across
calls and restarts share one rendering; the browser phone serves
`RenderedAudio.wav_bytes()` by key and the SIP channel streams `ulaw()`/`alaw()`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from dipflow.media import g711
from dipflow.media.audio import (
    TELEPHONY_RATE,
    Pcm,
    normalize,
    read_wav,
    resample,
    scale,
    wav_bytes,
)
from dipflow.media.errors import AudioFormatError, MediaError, PromptNotFound
from dipflow.media.music import hold_music
from dipflow.media.tts import RateTts, TtsEngine

HOLD_MUSIC = "hold"
"""The audio name of the default hold music (`PlayMusic(audio="hold")`)."""

SEGMENT_PAUSE_S = 0.25
"""Silence between the parts of a prompt spoken in several languages or voices."""


class SpokenText(Protocol):
    """One stretch of speech (the engine's `Spoken`)."""

    @property
    def text(self) -> str: ...

    @property
    def language(self) -> str: ...

    @property
    def voice(self) -> str | None: ...


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_KEY = re.compile(r"[0-9a-f]{64}")
_MAX_AUDIO_FILE_BYTES = 50 * 1024 * 1024


class RenderedAudio:
    """A rendered prompt: 8 kHz PCM and its encodings (computed on first use, then kept)."""

    __slots__ = ("_alaw", "_lock", "_ulaw", "_wav", "key", "pcm")

    def __init__(
        self, *, key: str, pcm: Pcm, ulaw: bytes | None = None, alaw: bytes | None = None
    ) -> None:
        if pcm.rate != TELEPHONY_RATE:
            raise ValueError("rendered audio is 8 kHz")
        for encoded in (ulaw, alaw):
            if encoded is not None and len(encoded) != pcm.frame_count:
                raise ValueError("a G.711 encoding has one byte per sample")
        self.key = key
        self.pcm = pcm
        self._lock = threading.Lock()
        self._wav: bytes | None = None
        self._ulaw = ulaw
        self._alaw = alaw

    @property
    def duration_s(self) -> float:
        return self.pcm.duration_s

    def wav_bytes(self) -> bytes:
        with self._lock:
            if self._wav is None:
                self._wav = wav_bytes(self.pcm)
            return self._wav

    def ulaw(self) -> bytes:
        """G.711 µ-law, one byte per sample (160 bytes per 20 ms frame)."""
        with self._lock:
            if self._ulaw is None:
                self._ulaw = g711.ulaw_encode(self.pcm.samples)
            return self._ulaw

    def alaw(self) -> bytes:
        """G.711 A-law, one byte per sample."""
        with self._lock:
            if self._alaw is None:
                self._alaw = g711.alaw_encode(self.pcm.samples)
            return self._alaw

    def __repr__(self) -> str:
        return f"RenderedAudio(key={self.key[:12]}…, duration_s={self.duration_s:.2f})"


def _digest(parts: dict[str, str | None]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


_HOLD_KEY = _digest({"kind": "music", "name": HOLD_MUSIC, "version": "1"})


def is_safe_audio_name(name: str) -> bool:
    """Plain file names only: no directories, no `..`, no hidden files."""
    return bool(_SAFE_NAME.fullmatch(name)) and ".." not in name


_Rendered = tuple[str, bytes, bytes, bytes]
"""What a render worker sends back: key, 8 kHz PCM, µ-law, A-law."""
_Tuning = tuple[float | None, float | None]
"""A spoken prompt's rate and gain (dB), None when unchanged (`_tuned`)."""


def _tuned(rate: float | None, gain_db: float | None) -> _Tuning:
    """Normal rate and no gain as None: a prompt without them keeps its cache key."""
    return (None if rate is None or rate == 1.0 else rate), (gain_db or None)


_worker: PromptRenderer | None = None


def _start_worker(
    tts: TtsEngine, audio_dirs: tuple[Path, ...], cache_dir: Path | None, niceness: int
) -> None:
    global _worker
    # Rendering is background work: on a shared core it yields to the RTP pacer and to
    # signalling rather than competing with them as an equal. A server started in a
    # real-time class would hand that class down to us: step out of it first.
    if hasattr(os, "sched_getscheduler") and os.sched_getscheduler(0) != os.SCHED_OTHER:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    if niceness > 0:
        os.nice(niceness)
    _worker = PromptRenderer(tts, audio_dirs=audio_dirs, cache_dir=cache_dir, memory_entries=16)


def _render_in_worker(
    text: str | None, audio: str, language: str, voice: str | None, tuning: _Tuning
) -> _Rendered:
    """Runs in a render worker process: everything CPU-bound about a new prompt."""
    renderer = _worker
    if renderer is None:  # pragma: no cover - the pool's initializer always ran
        raise MediaError("render worker not initialised")
    return renderer._render_here(text, audio, language, voice, tuning)


class PromptRenderer:
    """Renders TTS text and audio files to cached 8 kHz `RenderedAudio`.

    Thread-safe. The synchronous `render_text`/`render_audio` do the work in the
    calling thread (tools, tests, worker processes). Async code uses
    `render_text_async`/`render_audio_async`: a memory hit returns at once; a miss
    is rendered off the event loop, in `workers` processes (synthesis, resampling,
    level and G.711 encoding, the disk-cache write: none of it takes the caller's
    GIL), or with `workers=0` in a thread. Concurrent requests for one new prompt
    share a single rendering. Worker processes run at `worker_niceness` (lower priority
    than the server: a new prompt may take a little longer, RTP never waits for one).
    """

    def __init__(
        self,
        tts: TtsEngine,
        *,
        audio_dirs: Sequence[Path] = (),
        cache_dir: Path | None = None,
        memory_entries: int = 512,
        workers: int = 0,
        worker_niceness: int = 10,
    ) -> None:
        self.tts = tts
        self.audio_dirs = tuple(Path(d) for d in audio_dirs)
        self.cache_dir = cache_dir
        self.workers = workers
        self.niceness = worker_niceness
        self._memory_entries = memory_entries
        self._cache: OrderedDict[str, RenderedAudio] = OrderedDict()
        self._lock = threading.Lock()
        self._executor: Executor | None = None
        self._inflight: dict[str, Future[_Rendered]] = {}
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)

    # -- rendering off the event loop --

    async def render_text_async(
        self,
        text: str,
        *,
        language: str,
        voice: str | None,
        rate: float | None = None,
        gain_db: float | None = None,
    ) -> RenderedAudio:
        tuning = _tuned(rate, gain_db)
        key = self._text_key(text, language, voice, tuning)
        return self._memory(key) or await self._off_loop(key, text, "", language, voice, tuning)

    async def render_spoken_async(
        self,
        parts: Sequence[SpokenText],
        *,
        rate: float | None = None,
        gain_db: float | None = None,
    ) -> RenderedAudio:
        """`render_spoken` off the event loop: each part rendered by the workers (in
        parallel), the join here (bytes only: kept in memory, not written to disk)."""
        if not parts:
            raise MediaError("nothing to say")
        rendered = await asyncio.gather(
            *(
                self.render_text_async(
                    p.text, language=p.language, voice=p.voice, rate=rate, gain_db=gain_db
                )
                for p in parts
            )
        )
        if len(rendered) == 1:
            return rendered[0]
        key = _spoken_key(rendered)
        return self._memory(key) or self._remember(_joined(key, rendered))

    async def render_audio_async(self, name: str) -> RenderedAudio:
        if name == HOLD_MUSIC:
            hit = self._memory(_HOLD_KEY)
            if hit is not None:
                return hit
        # A file's key is its content's hash: reading and hashing happen in the worker.
        return await self._off_loop(f"file:{name}", None, name, "", None, (None, None))

    def start(self) -> None:
        """Start the render workers now (else on first use): worker processes take
        ~0.5 s each to import, better spent at start-up than in a caller's silence."""
        self._get_executor()

    def close(self) -> None:
        """Stop the render workers (renderings in progress finish first)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _get_executor(self) -> Executor:
        with self._lock:
            if self._executor is None:
                if self.workers > 0:
                    # spawn, not fork: the parent has threads (event loop helpers, HTTP).
                    self._executor = ProcessPoolExecutor(
                        self.workers,
                        mp_context=multiprocessing.get_context("spawn"),
                        initializer=_start_worker,
                        initargs=(self.tts, self.audio_dirs, self.cache_dir, self.niceness),
                    )
                else:
                    self._executor = ThreadPoolExecutor(2, thread_name_prefix="prompt-render")
            return self._executor

    async def _off_loop(
        self,
        key: str,
        text: str | None,
        audio: str,
        language: str,
        voice: str | None,
        tuning: _Tuning,
    ) -> RenderedAudio:
        with self._lock:
            future = self._inflight.get(key)
        if future is None:
            executor = self._get_executor()
            if isinstance(executor, ProcessPoolExecutor):
                future = executor.submit(_render_in_worker, text, audio, language, voice, tuning)
            else:
                future = executor.submit(self._render_here, text, audio, language, voice, tuning)
            with self._lock:
                future = self._inflight.setdefault(key, future)
            future.add_done_callback(lambda done: self._forget(key, done))
        rendered_key, pcm, ulaw, alaw = await asyncio.wrap_future(future)
        hit = self._memory(rendered_key)
        if hit is not None:
            return hit
        audio_pcm = Pcm(samples=pcm, rate=TELEPHONY_RATE)
        return self._remember(RenderedAudio(key=rendered_key, pcm=audio_pcm, ulaw=ulaw, alaw=alaw))

    def _forget(self, key: str, done: Future[_Rendered]) -> None:
        with self._lock:
            if self._inflight.get(key) is done:
                del self._inflight[key]

    def _render_here(
        self, text: str | None, audio: str, language: str, voice: str | None, tuning: _Tuning
    ) -> _Rendered:
        if text is not None:
            rate, gain_db = tuning
            rendered = self.render_text(
                text, language=language, voice=voice, rate=rate, gain_db=gain_db
            )
        else:
            rendered = self.render_audio(audio)
        return rendered.key, rendered.pcm.samples, rendered.ulaw(), rendered.alaw()

    def _memory(self, key: str) -> RenderedAudio | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    # -- rendering in the calling thread --

    def _text_key(
        self, text: str, language: str, voice: str | None, tuning: _Tuning = (None, None)
    ) -> str:
        settings: dict[str, str | None] = {
            "text": text, "language": language, "voice": voice, "engine": self.tts.name
        }  # fmt: skip
        rate, gain_db = tuning
        if rate is not None or gain_db is not None:
            # Only then part of the key: prompts cached before keep theirs.
            settings.update(rate=repr(rate), gain_db=repr(gain_db))
        return _digest({"kind": "tts", **settings})

    def render_text(
        self,
        text: str,
        *,
        language: str,
        voice: str | None,
        rate: float | None = None,
        gain_db: float | None = None,
    ) -> RenderedAudio:
        """`rate` (1 = normal; engines that cannot change it ignore it) and `gain_db` (a
        change of loudness from the normalized level, clipped at full scale) are Webex's
        `speakingRate` and `volumeGainDb`."""
        rate, gain_db = _tuned(rate, gain_db)
        key = self._text_key(text, language, voice, (rate, gain_db))
        cached = self.get(key)
        if cached is not None:
            return cached
        if rate is not None and isinstance(self.tts, RateTts):
            raw = self.tts.synthesize_at_rate(text, language=language, voice=voice, rate=rate)
        else:
            raw = self.tts.synthesize(text, language=language, voice=voice)
        pcm = normalize(resample(raw, TELEPHONY_RATE))
        if gain_db is not None:
            pcm = scale(pcm, 10 ** (gain_db / 20))
        return self._store(RenderedAudio(key=key, pcm=pcm))

    def render_spoken(
        self,
        parts: Sequence[SpokenText],
        *,
        rate: float | None = None,
        gain_db: float | None = None,
    ) -> RenderedAudio:
        """Several stretches of speech (a prompt in two languages), each in its own language
        and voice, joined with a short pause; each part is cached on its own too."""
        if not parts:
            raise MediaError("nothing to say")
        rendered = [
            self.render_text(
                part.text, language=part.language, voice=part.voice, rate=rate, gain_db=gain_db
            )
            for part in parts
        ]
        if len(rendered) == 1:
            return rendered[0]
        key = _spoken_key(rendered)
        cached = self.get(key)
        if cached is not None:
            return cached
        return self._store(_joined(key, rendered))

    def render_audio(self, name: str) -> RenderedAudio:
        """`"hold"` is the bundled music; other names are WAV files in `audio_dirs`."""
        if name == HOLD_MUSIC:
            cached = self.get(_HOLD_KEY)
            if cached is not None:
                return cached
            return self._store(RenderedAudio(key=_HOLD_KEY, pcm=hold_music()))
        path = self._find_audio_file(name)
        data = path.read_bytes()
        key = _digest({"kind": "file", "sha256": hashlib.sha256(data).hexdigest()})
        cached = self.get(key)
        if cached is not None:
            return cached
        try:
            pcm = resample(read_wav(data), TELEPHONY_RATE)
        except AudioFormatError as exc:
            raise MediaError(f"audio {name!r}: {exc}") from exc
        return self._store(RenderedAudio(key=key, pcm=pcm))

    def get(self, key: str) -> RenderedAudio | None:
        """A previously rendered prompt by key (memory, then the disk cache)."""
        if not _KEY.fullmatch(key):
            return None
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        if self.cache_dir is None:
            return None
        path = self.cache_dir / f"{key}.wav"
        try:
            pcm = read_wav(path.read_bytes())
        except (OSError, AudioFormatError):
            return None
        if pcm.rate != TELEPHONY_RATE:
            return None
        return self._remember(RenderedAudio(key=key, pcm=pcm))

    def _find_audio_file(self, name: str) -> Path:
        if not is_safe_audio_name(name):
            raise PromptNotFound(f"not a valid audio name: {name!r}")
        candidates = [name] if name.lower().endswith(".wav") else [name, f"{name}.wav"]
        for directory in self.audio_dirs:
            for candidate in candidates:
                path = directory / candidate
                if path.is_file() and path.stat().st_size <= _MAX_AUDIO_FILE_BYTES:
                    return path
        raise PromptNotFound(f"no audio file {name!r} in {[str(d) for d in self.audio_dirs]}")

    def _store(self, audio: RenderedAudio) -> RenderedAudio:
        if self.cache_dir is not None:
            final = self.cache_dir / f"{audio.key}.wav"
            partial = final.with_suffix(f".{threading.get_ident()}.tmp")
            try:  # write-then-rename so a concurrent reader never sees half a file
                partial.write_bytes(audio.wav_bytes())
                partial.replace(final)
            except OSError:
                partial.unlink(missing_ok=True)
        return self._remember(audio)

    def _remember(self, audio: RenderedAudio) -> RenderedAudio:
        with self._lock:
            existing = self._cache.get(audio.key)
            if existing is not None:
                return existing
            self._cache[audio.key] = audio
            while len(self._cache) > self._memory_entries:
                self._cache.popitem(last=False)
            return audio


def _spoken_key(parts: Sequence[RenderedAudio]) -> str:
    return _digest({"kind": "spoken", "parts": ",".join(r.key for r in parts)})


def _joined(key: str, parts: Sequence[RenderedAudio]) -> RenderedAudio:
    """The parts with a `SEGMENT_PAUSE_S` pause between them; the G.711 encodings joined
    from the parts' (G.711 codes each sample on its own), not encoded again."""
    pause = int(TELEPHONY_RATE * SEGMENT_PAUSE_S)
    samples = (b"\0\0" * pause).join(r.pcm.samples for r in parts)
    ulaw = bytes([g711.ULAW_SILENCE] * pause).join(r.ulaw() for r in parts)
    alaw = bytes([g711.ALAW_SILENCE] * pause).join(r.alaw() for r in parts)
    pcm = Pcm(samples=samples, rate=TELEPHONY_RATE)
    return RenderedAudio(key=key, pcm=pcm, ulaw=ulaw, alaw=alaw)
