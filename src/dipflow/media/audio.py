"""PCM audio: the media layer's one in-memory format, resampling and WAV I/O. Layer 3 (media).

Everything the channels stream is 16-bit signed little-endian mono PCM (`Pcm`).
Telephony runs at 8 kHz; TTS engines produce 16-24 kHz, so prompts are resampled
once, when rendered, and cached.

numpy is not a dependency and `audioop` is deprecated (PEP 594, removed in 3.13),
so the resampler is written here with the stdlib `array` module: a short
windowed-sinc low-pass (anti-aliasing below the new Nyquist) evaluated at the
fractional output positions. Rendering is cached, so its cost is paid once per
prompt text.
"""

from __future__ import annotations

import io
import math
import sys
import wave
from array import array
from dataclasses import dataclass
from functools import lru_cache
from operator import mul

from dipflow.media.errors import AudioFormatError

TELEPHONY_RATE = 8000
"""The sample rate of G.711 (ITU-T G.711 §1)."""


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
        values = self.as_array()
        if not values:
            return 0.0
        return math.sqrt(sum(v * v for v in values) / len(values))

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


def _clip(value: float) -> int:
    if value >= 32767.0:
        return 32767
    if value <= -32768.0:
        return -32768
    return round(value)


_HALF_TAPS = 8
"""Half the length of the low-pass kernel: 16 taps keep pure-Python cost low and
attenuate the band above 4 kHz enough for speech headed to G.711."""

_PHASES = 64
"""Fractional positions are quantised to 1/64 sample (error far below G.711's noise)."""


@lru_cache(maxsize=16)
def _kernel_table(ratio: float) -> tuple[tuple[float, ...], ...]:
    """Per-phase windowed-sinc (Blackman) weights for a cut-off at `ratio` * Nyquist."""
    cutoff = min(1.0, ratio) * 0.92
    table: list[tuple[float, ...]] = []
    for phase in range(_PHASES):
        frac = phase / _PHASES
        weights: list[float] = []
        for k in range(-_HALF_TAPS + 1, _HALF_TAPS + 1):
            x = k - frac
            sinc = cutoff if x == 0 else math.sin(math.pi * cutoff * x) / (math.pi * x)
            t = (x + _HALF_TAPS) / (2 * _HALF_TAPS)
            window = 0.42 - 0.5 * math.cos(2 * math.pi * t) + 0.08 * math.cos(4 * math.pi * t)
            weights.append(sinc * window)
        total = sum(weights)
        table.append(tuple(w / total for w in weights))
    return tuple(table)


def resample(pcm: Pcm, rate: int = TELEPHONY_RATE) -> Pcm:
    """Convert to `rate` with a band-limited (windowed-sinc) interpolator."""
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    if pcm.rate == rate or not pcm.samples:
        return Pcm(samples=pcm.samples, rate=rate)
    source = pcm.as_array()
    n = len(source)
    step = pcm.rate / rate
    table = _kernel_table(rate / pcm.rate)
    out_len = int(n * rate / pcm.rate)
    # Pad so every kernel window is in range without bounds checks in the loop.
    padded = [0] * _HALF_TAPS + list(source) + [0] * (_HALF_TAPS + 1)
    taps = 2 * _HALF_TAPS
    out = array("h", bytes(2 * out_len))
    for i in range(out_len):
        position = i * step
        base = int(position)
        weights = table[int((position - base) * _PHASES)]
        # sumprod: the multiply-accumulate runs in C (3x faster than a Python loop).
        acc = sum(map(mul, weights, padded[base + 1 : base + 1 + taps]))
        out[i] = _clip(acc)
    return Pcm.from_array(out, rate)


def scale(pcm: Pcm, gain: float) -> Pcm:
    values = pcm.as_array()
    return Pcm.from_array(array("h", (_clip(v * gain) for v in values)), pcm.rate)


def normalize(pcm: Pcm, peak: float = 0.7) -> Pcm:
    """Scale so the loudest sample reaches `peak` of full scale (TTS engines vary a lot)."""
    values = pcm.as_array()
    loudest = max((abs(v) for v in values), default=0)
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
    if width == 1:  # 8-bit WAV is unsigned
        values = array("h", ((b - 128) << 8 for b in frames))
    elif width == 2:
        values = to_array(frames[: len(frames) - len(frames) % 2])
    else:
        raise AudioFormatError(f"unsupported sample width {width * 8} bit")
    if channels > 1:
        values = array(
            "h",
            (
                sum(values[i : i + channels]) // channels
                for i in range(0, len(values) - channels + 1, channels)
            ),
        )
    return Pcm.from_array(values, rate)
