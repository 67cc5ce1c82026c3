"""PCM audio: the media layer's one in-memory format, resampling and WAV I/O. Layer 3 (media).

Everything the channels stream is 16-bit signed little-endian mono PCM (`Pcm`).
Telephony runs at 8 kHz; TTS engines produce 16-24 kHz, so prompts are resampled
once, when rendered, and cached.

Resampling is libsoxr (`soxr`, which brings numpy; `audioop` is deprecated by
PEP 594): it runs in C without the GIL, so rendering a new prompt in a worker
never holds up the RTP pacer. Level changes use numpy for the same reason.
"""

from __future__ import annotations

import io
import sys
import wave
from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

from dipflow.media.errors import AudioFormatError

TELEPHONY_RATE = 8000
"""The sample rate of G.711 (ITU-T G.711 §1)."""

_INT16_LE = np.dtype("<i2")


@dataclass(frozen=True, slots=True, kw_only=True)
class Pcm:
    """Mono 16-bit signed little-endian PCM."""

    samples: bytes
    rate: int

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"sample rate must be positive, got {self.rate}")
        if len(self.samples) % 2:
            raise ValueError("16-bit PCM must have an even number of bytes")

    @property
    def frame_count(self) -> int:
        return len(self.samples) // 2

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.rate

    def as_array(self) -> array[int]:
        return to_array(self.samples)

    def rms(self) -> float:
        """Root-mean-square level, in sample units (0..32767)."""
        if not self.samples:
            return 0.0
        values = _samples(self).astype(np.float64)
        return float(np.sqrt(np.mean(values * values)))

    @classmethod
    def silence(cls, duration_s: float, rate: int = TELEPHONY_RATE) -> Pcm:
        return cls(samples=bytes(2 * round(duration_s * rate)), rate=rate)

    @classmethod
    def from_array(cls, values: array[int], rate: int) -> Pcm:
        return cls(samples=from_array(values), rate=rate)

    def __add__(self, other: Pcm) -> Pcm:
        if other.rate != self.rate:
            raise ValueError("cannot concatenate PCM of different rates")
        return Pcm(samples=self.samples + other.samples, rate=self.rate)


def to_array(samples: bytes) -> array[int]:
    values = array("h")
    values.frombytes(samples)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def from_array(values: array[int]) -> bytes:
    if sys.byteorder == "big":
        values = array("h", values)
        values.byteswap()
    return values.tobytes()


def _samples(pcm: Pcm) -> npt.NDArray[np.int16]:
    """The samples as a read-only int16 view (no copy)."""
    return np.frombuffer(pcm.samples, dtype=_INT16_LE)


def _to_pcm(values: npt.NDArray[np.floating[Any]] | npt.NDArray[np.integer[Any]], rate: int) -> Pcm:
    """Round and clip to 16-bit (never wrap around: a wrapped peak is a loud click)."""
    clipped = np.clip(np.rint(values), -32768, 32767).astype(_INT16_LE)
    return Pcm(samples=clipped.tobytes(), rate=rate)


def resample(pcm: Pcm, rate: int = TELEPHONY_RATE) -> Pcm:
    """Convert to `rate` with libsoxr (band-limited, linear phase; "HQ" quality).

    libsoxr runs in C with the GIL released: a 4 s prompt takes well under a
    millisecond, where the former pure-Python interpolator held the GIL for ~40 ms
    and made every RTP sender in the process wait (see docs/media.md).
    """
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    if pcm.rate == rate or not pcm.samples:
        return Pcm(samples=pcm.samples, rate=rate)
    source = _samples(pcm).astype(np.float32)
    out = soxr.resample(source, pcm.rate, rate, quality="HQ")
    return _to_pcm(out, rate)


def scale(pcm: Pcm, gain: float) -> Pcm:
    return _to_pcm(_samples(pcm).astype(np.float64) * gain, pcm.rate)


def normalize(pcm: Pcm, peak: float = 0.7) -> Pcm:
    """Scale so the loudest sample reaches `peak` of full scale (TTS engines vary a lot)."""
    values = _samples(pcm)
    loudest = int(np.abs(values.astype(np.int32)).max()) if len(values) else 0
    if loudest == 0:
        return pcm
    return scale(pcm, peak * 32767 / loudest)


def wav_bytes(pcm: Pcm) -> bytes:
    """A RIFF/WAVE file of the PCM (16-bit mono)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(pcm.rate)
        out.writeframes(pcm.samples)
    return buffer.getvalue()


def read_wav(data: bytes) -> Pcm:
    """Decode a PCM WAV file to mono 16-bit (channels are averaged); `AudioFormatError` when
    it is not one."""
    try:
        with wave.open(io.BytesIO(data), "rb") as src:
            channels = src.getnchannels()
            width = src.getsampwidth()
            rate = src.getframerate()
            frames = src.readframes(src.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"not a PCM WAV file: {exc}") from exc
    values: npt.NDArray[np.int32]
    if width == 1:  # 8-bit WAV is unsigned
        values = (np.frombuffer(frames, dtype=np.uint8).astype(np.int32) - 128) << 8
    elif width == 2:
        values = np.frombuffer(frames[: len(frames) - len(frames) % 2], dtype=_INT16_LE).astype(
            np.int32
        )
    else:
        raise AudioFormatError(f"unsupported sample width {width * 8} bit")
    if channels > 1:  # average the channels of each frame (a trailing partial frame is dropped)
        usable = len(values) - len(values) % channels
        values = values[:usable].reshape(-1, channels).sum(axis=1) // channels
    if rate <= 0:
        raise AudioFormatError(f"invalid sample rate {rate}")
    return Pcm(samples=values.astype(_INT16_LE).tobytes(), rate=rate)
