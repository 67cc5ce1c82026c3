"""Text to speech: the engine protocol and espeak-ng (ctypes). Layer 3 (media).

espeak-ng comes through `espeakng-loader`.

espeak-ng is driven through its C API (speak_lib.h): `espeak_Initialize` in
synchronous mode, a synth callback that collects 16-bit samples, then
`espeak_SetVoiceByName` and `espeak_Synth`. The library keeps global state and is
not thread-safe, so every use goes through one process-wide lock.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Protocol

from dipflow.media.audio import Pcm
from dipflow.media.errors import TtsError


class TtsEngine(Protocol):
    """Turns plain text into PCM. `name` is part of the prompt cache key."""

    name: str

    def synthesize(self, text: str, *, language: str, voice: str | None) -> Pcm: ...


# speak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE = 1
_EE_OK = 0

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


def espeak_voice_for(language: str) -> list[str]:
    """espeak voice names to try for a BCP 47 tag, most specific first.

    espeak names regional English voices "en-us"/"en-gb" but most languages by
    their primary subtag ("de", "fr"), so "de-DE" falls back to "de".
    """
    tag = language.strip().replace("_", "-").lower()
    primary = tag.split("-", 1)[0]
    candidates = [tag]
    if primary == "en" and tag == "en":
        candidates.append("en-us")
    if primary and primary not in candidates:
        candidates.append(primary)
    return [c for c in candidates if c]


class _EspeakLibrary:
    """The loaded, initialised shared library (one per process)."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise TtsError("espeakng-loader is not installed") from exc
        try:
            self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path().encode()
        except (OSError, RuntimeError) as exc:
            raise TtsError(f"cannot load libespeak-ng: {exc}") from exc
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise TtsError(f"espeak_Initialize failed ({rate})")
        self.rate = rate
        self.chunks: list[bytes] = []
        # Keep a reference: ctypes callbacks must outlive the C side's use of them.
        self.callback = _SynthCallback(self._collect)
        lib.espeak_SetSynthCallback(self.callback)
        self.voice: str | None = None

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int) -> int:
        if wav and count > 0:
            self.chunks.append(ctypes.string_at(wav, count * 2))
        return 0  # continue synthesis


_library: _EspeakLibrary | None = None
_lock = threading.Lock()


class EspeakTts:
    """espeak-ng, bundled by `espeakng-loader` (no system package needed).

    Output is the library's native rate (22,050 Hz); the prompt renderer resamples.
    `rate_wpm` is the speaking rate (espeak's default is 175; IVRs speak slower).
    """

    name = "espeak-ng"

    def __init__(self, *, rate_wpm: int = 160) -> None:
        self.rate_wpm = rate_wpm

    def synthesize(self, text: str, *, language: str, voice: str | None) -> Pcm:
        global _library
        with _lock:
            if _library is None:
                _library = _EspeakLibrary()
            lib = _library
            self._select_voice(lib, language, voice)
            lib.lib.espeak_SetParameter(_PARAM_RATE, self.rate_wpm, 0)
            encoded = text.encode("utf-8", errors="replace") + b"\0"
            lib.chunks = []
            # Plain text (no espeakSSML flag): caller data can never inject markup.
            status = lib.lib.espeak_Synth(
                encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            samples = b"".join(lib.chunks)
            lib.chunks = []
        if status != _EE_OK:
            raise TtsError(f"espeak_Synth failed ({status})")
        return Pcm(samples=samples, rate=lib.rate)

    @staticmethod
    def _select_voice(lib: _EspeakLibrary, language: str, voice: str | None) -> None:
        candidates = ([voice] if voice else []) + espeak_voice_for(language)
        for name in candidates:
            if name == lib.voice:
                return
            if lib.lib.espeak_SetVoiceByName(name.encode()) == _EE_OK:
                lib.voice = name
                return
        raise TtsError(f"no espeak voice for language {language!r} / voice {voice!r}")
