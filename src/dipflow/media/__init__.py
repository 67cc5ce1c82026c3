"""Media: TTS, G.711, hold music and the prompt cache. Layer 3 (media).

No I/O beyond files. Errors: `MediaError` (a `dipflow.errors.DipflowError`) is the root of
every error this layer raises on purpose (`TtsError`, `PromptNotFound`, `AudioFormatError`);
a channel catches it and tells the engine that the prompt failed.

The names below are imported when first used (PEP 562): importing one small module of this
package (`dipflow.media.stream`, `dipflow.media.voices`) must not load the prompt renderer,
eSpeak and numpy for a command that plays nothing (`dipflow call --fast`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dipflow.media.audio import TELEPHONY_RATE, Pcm, read_wav, resample, wav_bytes
    from dipflow.media.errors import AudioFormatError, MediaError, PromptNotFound, TtsError
    from dipflow.media.prompts import HOLD_MUSIC, PromptRenderer, RenderedAudio
    from dipflow.media.tts import EspeakTts, TtsEngine

__all__ = [
    "HOLD_MUSIC",
    "TELEPHONY_RATE",
    "AudioFormatError",
    "EspeakTts",
    "MediaError",
    "Pcm",
    "PromptNotFound",
    "PromptRenderer",
    "RenderedAudio",
    "TtsEngine",
    "TtsError",
    "read_wav",
    "resample",
    "wav_bytes",
]

_HOMES = {
    "TELEPHONY_RATE": "dipflow.media.audio",
    "Pcm": "dipflow.media.audio",
    "read_wav": "dipflow.media.audio",
    "resample": "dipflow.media.audio",
    "wav_bytes": "dipflow.media.audio",
    "AudioFormatError": "dipflow.media.errors",
    "MediaError": "dipflow.media.errors",
    "PromptNotFound": "dipflow.media.errors",
    "TtsError": "dipflow.media.errors",
    "HOLD_MUSIC": "dipflow.media.prompts",
    "PromptRenderer": "dipflow.media.prompts",
    "RenderedAudio": "dipflow.media.prompts",
    "EspeakTts": "dipflow.media.tts",
    "TtsEngine": "dipflow.media.tts",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
