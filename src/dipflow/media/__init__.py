"""Media: TTS, G.711, hold music and the prompt cache (layer 3, no I/O beyond files)."""

from dipflow.media.audio import TELEPHONY_RATE, Pcm, read_wav, resample, wav_bytes
from dipflow.media.errors import MediaError, PromptNotFound, TtsError
from dipflow.media.prompts import HOLD_MUSIC, PromptRenderer, RenderedAudio
from dipflow.media.tts import EspeakTts, TtsEngine

__all__ = [
    "HOLD_MUSIC",
    "TELEPHONY_RATE",
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
