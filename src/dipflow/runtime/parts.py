"""Builders for the parts other areas own, from our configuration sections.

Kept apart so that the runtime module reads as wiring, and so that a change in
another area's constructor is one edit here.
Layer 5 (runtime).
"""

from __future__ import annotations

from dipflow.center import CenterStore, MemoryCenterStore
from dipflow.media.audio import Pcm
from dipflow.media.prompts import PromptRenderer
from dipflow.media.tts import EspeakTts, TtsEngine
from dipflow.runtime.config import MediaSettings, RedisStoreSettings


def make_center_store(settings: str | RedisStoreSettings) -> CenterStore:
    """The contact center's store: memory, or Redis shared by several nodes.

    Call state documents live in the same store (`save_call_state`), next to the queues.
    """
    if isinstance(settings, RedisStoreSettings):
        from dipflow.center.redis_store import RedisCenterStore

        return RedisCenterStore.from_url(settings.url, prefix=settings.prefix)
    return MemoryCenterStore()


class SilentTts:
    """A TTS engine that speaks silence as long as the text would take (tests, text channels)."""

    name = "silent"

    def synthesize(self, text: str, *, language: str, voice: str | None) -> Pcm:
        del language, voice
        rate = 8000
        seconds = min(60.0, max(0.2, len(text) / 15.0))
        return Pcm(samples=bytes(2 * int(rate * seconds)), rate=rate)


def make_prompts(settings: MediaSettings) -> PromptRenderer:
    """The prompt renderer for the configured TTS engine and audio directories."""
    tts: TtsEngine = EspeakTts() if settings.tts == "espeak" else SilentTts()
    workers = settings.render_workers if settings.tts == "espeak" else 0
    return PromptRenderer(
        tts, cache_dir=settings.cache_dir, audio_dirs=settings.audio_dirs, workers=workers
    )
