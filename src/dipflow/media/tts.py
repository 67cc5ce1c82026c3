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
from pathlib import Path
from typing import Protocol, runtime_checkable

from dipflow.media.audio import Pcm
from dipflow.media.errors import TtsError
from dipflow.media.voices import EspeakCatalog, EspeakVoice


class TtsEngine(Protocol):
    """Turns plain text into PCM. `name` is part of the prompt cache key."""

    name: str

    def synthesize(self, text: str, *, language: str, voice: str | None) -> Pcm: ...


@runtime_checkable
class RateTts(Protocol):
    """An engine that can also speak faster or slower than its normal rate (Webex's
    `speakingRate`). Engines without it speak every prompt at their own rate."""

    def synthesize_at_rate(
        self, text: str, *, language: str, voice: str | None, rate: float
    ) -> Pcm: ...


# speak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE = 1
_EE_OK = 0


class _VoiceStruct(ctypes.Structure):
    """speak_lib.h `espeak_VOICE`."""

    _fields_ = (
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    )


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


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
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceStruct))
        self.data_path = Path(data_path.decode())
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise TtsError(f"espeak_Initialize failed ({rate})")
        self.rate = rate
        self.chunks: list[bytes] = []
        # Keep a reference: ctypes callbacks must outlive the C side's use of them.
        self.callback = _SynthCallback(self._collect)
        lib.espeak_SetSynthCallback(self.callback)
        self.voice: str | None = None

    def list_voices(self) -> list[tuple[str, str, list[tuple[int, str]]]]:
        """(name, identifier, [(priority, language)...]) of every installed voice."""
        found: list[tuple[str, str, list[tuple[int, str]]]] = []
        listed = self.lib.espeak_ListVoices(None)
        index = 0
        while listed[index]:
            voice = listed[index].contents
            languages: list[tuple[int, str]] = []
            pointer = voice.languages or 0
            # A run of (priority byte, NUL-terminated tag), ended by a zero priority.
            while pointer:
                priority = ctypes.string_at(pointer, 1)[0]
                if priority == 0:
                    break
                tag = ctypes.string_at(pointer + 1)
                languages.append((priority, tag.decode("utf-8", "replace")))
                pointer += len(tag) + 2
            found.append(
                (
                    (voice.name or b"").decode("utf-8", "replace"),
                    (voice.identifier or b"").decode("utf-8", "replace"),
                    languages,
                )
            )
            index += 1
        return found

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int) -> int:
        if wav and count > 0:
            self.chunks.append(ctypes.string_at(wav, count * 2))
        return 0  # continue synthesis


_library: _EspeakLibrary | None = None
_lock = threading.Lock()


def _loaded() -> _EspeakLibrary:
    """The library, loaded on first use; call with `_lock` held."""
    global _library
    if _library is None:
        _library = _EspeakLibrary()
    return _library


_catalog: EspeakCatalog | None = None


def espeak_catalog() -> EspeakCatalog:
    """What the installed espeak-ng can speak (loaded once): see `dipflow.media.voices`."""
    global _catalog
    with _lock:
        if _catalog is None:
            lib = _loaded()
            voices = [
                EspeakVoice(
                    name=name,
                    identifier=identifier,
                    languages=tuple((priority, tag.lower()) for priority, tag in languages),
                )
                for name, identifier, languages in lib.list_voices()
            ]
            variants_dir = lib.data_path / "voices" / "!v"
            variants = sorted(p.name for p in variants_dir.iterdir() if p.is_file())
            _catalog = EspeakCatalog(voices, variants)
        return _catalog


class EspeakTts:
    """espeak-ng, bundled by `espeakng-loader` (no system package needed).

    Output is the library's native rate (22,050 Hz); the prompt renderer resamples.
    `rate_wpm` is the speaking rate (espeak's default is 175; IVRs speak slower).
    """

    name = "espeak-ng"

    def __init__(self, *, rate_wpm: int = 160) -> None:
        self.rate_wpm = rate_wpm

    def synthesize(self, text: str, *, language: str, voice: str | None) -> Pcm:
        return self.synthesize_at_rate(text, language=language, voice=voice, rate=1.0)

    def synthesize_at_rate(
        self, text: str, *, language: str, voice: str | None, rate: float
    ) -> Pcm:
        """`rate` multiplies `rate_wpm` (1 = normal), within espeak's 80..450 words/min."""
        words_per_minute = max(80, min(450, round(self.rate_wpm * rate)))
        # An unknown language or voice is an error, never espeak's silent fallback.
        spec = espeak_catalog().resolve(language, voice)
        with _lock:
            lib = _loaded()
            if spec != lib.voice:
                if lib.lib.espeak_SetVoiceByName(spec.encode()) != _EE_OK:
                    raise TtsError(f"espeak-ng cannot load voice {spec!r}")
                lib.voice = spec
            lib.lib.espeak_SetParameter(_PARAM_RATE, words_per_minute, 0)
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
