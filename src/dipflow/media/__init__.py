"""Media: TTS, G.711, hold music and the prompt cache. Layer 3 (media).

No I/O beyond files. Errors: `MediaError` (a `dipflow.errors.DipflowError`) is the root of
every error this layer raises on purpose (`TtsError`, `PromptNotFound`, `AudioFormatError`);
a channel catches it and tells the engine that the prompt failed.
"""

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
