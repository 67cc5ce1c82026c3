"""Rendering off the event loop: worker processes or a thread, one rendering per new prompt."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from dipflow.media import (
    EspeakTts,
    Pcm,
    PromptNotFound,
    PromptRenderer,
    RenderedAudio,
    TtsError,
    g711,
)

TEXT = "Your call is important to us. Please stay on the line."


class _CountingTts:
    """espeak-ng, counting how often it is asked (to see renderings being shared)."""

    name = "espeak-ng-counted"

    def __init__(self) -> None:
        self.calls = 0
        self.inner = EspeakTts()
        self.lock = threading.Lock()

    def synthesize(self, text: str, *, language: str, voice: str | None) -> Pcm:
        with self.lock:
            self.calls += 1
        return self.inner.synthesize(text, language=language, voice=voice)


async def test_concurrent_requests_for_a_new_prompt_share_one_rendering() -> None:
    tts = _CountingTts()
    renderer = PromptRenderer(tts)
    try:
        results = await asyncio.gather(
            *(renderer.render_text_async(TEXT, language="en-US", voice=None) for _ in range(8))
        )
        assert tts.calls == 1
        assert len({id(r) for r in results}) == 1  # everybody streams the same cached bytes
        again = await renderer.render_text_async(TEXT, language="en-US", voice=None)
        assert again is results[0] and tts.calls == 1
        sync = renderer.render_text(TEXT, language="en-US", voice=None)
        assert sync is results[0]
    finally:
        renderer.close()


async def test_a_failed_rendering_reports_the_error_and_is_not_remembered() -> None:
    renderer = PromptRenderer(EspeakTts())
    try:
        with pytest.raises(TtsError):
            await renderer.render_text_async("hello", language="xx-nowhere", voice=None)
        with pytest.raises(PromptNotFound):
            await renderer.render_audio_async("no-such-file")
        # The same request fails again (no stale future), and a good one still works.
        with pytest.raises(TtsError):
            await renderer.render_text_async("hello", language="xx-nowhere", voice=None)
        ok = await renderer.render_text_async("hello", language="en-US", voice=None)
        assert ok.duration_s > 0.3
    finally:
        renderer.close()


@pytest.mark.slow
async def test_worker_processes_render_what_the_caller_would_have(tmp_path: Path) -> None:
    renderer = PromptRenderer(EspeakTts(), cache_dir=tmp_path / "cache", workers=1)
    renderer.start()
    try:
        remote = await renderer.render_text_async(TEXT, language="en-US", voice=None)
        # The same prompt as rendering here (espeak is not bit-exact from one synthesis
        # to the next), and the encodings the worker made are G.711 of its PCM.
        local = PromptRenderer(EspeakTts()).render_text(TEXT, language="en-US", voice=None)
        assert remote.key == local.key
        assert remote.pcm.rate == 8000
        assert abs(remote.duration_s - local.duration_s) < 0.05
        # In a long test run this process's espeak has synthesised other voices before, and its
        # output level drifts with that history (5.5 % seen in a full run); 10 % still catches a
        # gain step of 1 dB (12 %) or a wrong rate, which the worker must not add.
        assert abs(remote.pcm.rms() - local.pcm.rms()) < 0.10 * local.pcm.rms()
        assert remote.ulaw() == g711.ulaw_encode(remote.pcm.samples)
        assert remote.alaw() == g711.alaw_encode(remote.pcm.samples)
        # The worker wrote the disk cache: a fresh renderer finds it without synthesis.
        assert (tmp_path / "cache" / f"{remote.key}.wav").is_file()
        fresh = PromptRenderer(_Refusing(), cache_dir=tmp_path / "cache")
        assert fresh.get(remote.key) is not None
        # Errors cross the process boundary as the media layer's own exceptions.
        with pytest.raises(PromptNotFound):
            await renderer.render_audio_async("../etc/passwd")
        music = await renderer.render_audio_async("hold")
        assert music is await renderer.render_audio_async("hold")
        assert 30 <= music.duration_s <= 60
    finally:
        renderer.close()


class _Refusing:
    name = "espeak-ng"

    def synthesize(self, text: str, *, language: str, voice: str | None) -> Pcm:
        raise AssertionError("should have come from the disk cache")


def test_encodings_handed_in_must_match_the_pcm() -> None:
    pcm = Pcm.silence(0.1)
    with pytest.raises(ValueError, match="one byte per sample"):
        RenderedAudio(key="0" * 64, pcm=pcm, ulaw=b"\xff" * 10)
    audio = RenderedAudio(key="0" * 64, pcm=pcm, ulaw=b"\xff" * 800)
    assert audio.ulaw() == b"\xff" * 800


@pytest.mark.slow
async def test_a_prompt_in_two_languages_renders_in_the_workers_with_its_rate() -> None:
    """`render_spoken_async` (what the SIP and web calls play): each part in the render
    worker, with the prompt's rate and gain, joined by the pause; the joined G.711 is the
    G.711 of the joined audio."""
    from dipflow.engine.commands import Spoken
    from dipflow.media.errors import MediaError
    from dipflow.media.prompts import SEGMENT_PAUSE_S

    renderer = PromptRenderer(EspeakTts(), workers=1)
    renderer.start()
    try:
        english = Spoken(text="For English press 1.", language="en-US")
        german = Spoken(text="Für Deutsch drücken Sie die 2.", language="de-DE", voice="f2")
        both = await renderer.render_spoken_async([english, german], rate=1.5, gain_db=-6.0)
        fast = await renderer.render_text_async(
            english.text, language="en-US", voice=None, rate=1.5, gain_db=-6.0
        )
        normal = await renderer.render_text_async(english.text, language="en-US", voice=None)
        assert fast.key != normal.key  # rate and gain are part of the key
        assert fast.duration_s < 0.8 * normal.duration_s  # spoken faster
        assert fast.pcm.rms() < 0.7 * normal.pcm.rms()  # -6 dB is half the amplitude
        assert both.pcm.samples.startswith(fast.pcm.samples)
        assert both.duration_s > fast.duration_s + SEGMENT_PAUSE_S
        assert both.ulaw() == g711.ulaw_encode(both.pcm.samples)
        assert both.alaw() == g711.alaw_encode(both.pcm.samples)
        again = await renderer.render_spoken_async([english, german], rate=1.5, gain_db=-6.0)
        assert again is both  # kept by its parts' keys
        one = await renderer.render_spoken_async([english])
        assert one is normal  # a single part is that part
        with pytest.raises(MediaError, match="nothing to say"):
            await renderer.render_spoken_async([])
    finally:
        renderer.close()
