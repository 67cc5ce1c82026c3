"""Builders for the parts other areas own, from our configuration sections.

Kept apart so that the runtime module reads as wiring, and so that a change in
another area's constructor is one edit here.
"""

from __future__ import annotations

from typing import Any

from dipflow.runtime.config import MediaSettings, RedisStoreSettings


def make_center_store(settings: str | RedisStoreSettings) -> Any:
    """The contact center's store: memory, or Redis shared by several nodes."""
    if isinstance(settings, RedisStoreSettings):
        from dipflow.center.redis_store import RedisCenterStore  # type: ignore[import-not-found, unused-ignore]

        return RedisCenterStore(settings.url, prefix=settings.prefix)
    from dipflow.center.memory_store import MemoryCenterStore  # type: ignore[import-not-found, unused-ignore]

    return MemoryCenterStore()


def make_prompts(settings: MediaSettings) -> Any:
    """The prompt renderer for the configured TTS engine and audio directories."""
    from dipflow.media.prompts import PromptRenderer  # type: ignore[import-not-found, unused-ignore]

    tts: Any = None
    if settings.tts == "espeak":
        from dipflow.media.tts import EspeakTts  # type: ignore[import-not-found, unused-ignore]

        tts = EspeakTts()
    return PromptRenderer(tts=tts, cache_dir=settings.cache_dir, audio_dirs=settings.audio_dirs)
