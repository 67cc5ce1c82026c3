"""The default hold music: a calm, royalty-free loop generated procedurally. Layer 3 (media).

Deterministic (no randomness), so every install hears the same 48 s loop and it
can be cached by content. The piece is a slow I-vi-IV-V style progression in
C major at 72 BPM: a soft pad (chord tones with slow swells), a plucked
arpeggio in the 500-1000 Hz range (which survives the 300-3400 Hz telephone
band) and a gentle melody on the second half. Every note's envelope returns to
zero inside the loop, so the loop point is seamless.
"""

from __future__ import annotations

import math
from array import array
from functools import cache

from dipflow.media.audio import TELEPHONY_RATE, Pcm

_BPM = 72
_BEAT_S = 60 / _BPM
_BEATS_PER_CHORD = 4

# MIDI note numbers of each chord's tones (C major: C, Am, F, G, C, Em, Dm, G).
_PROGRESSION: tuple[tuple[int, ...], ...] = (
    (60, 64, 67),
    (57, 60, 64),
    (53, 57, 60),
    (55, 59, 62),
    (60, 64, 67),
    (52, 55, 59),
    (50, 53, 57),
    (55, 59, 62),
)
_REPEATS = 2
"""The progression twice (the second time with a melody): 16 chords = 53 s."""

# Arpeggio pattern over the chord tones (index into tones shifted an octave up).
_ARPEGGIO = (0, 1, 2, 1, 0, 2, 1, 2)
# Melody for the second pass: one note per beat (None = rest), MIDI numbers.
# 32 beats = the 8 chords of the second pass.
_MELODY: tuple[int | None, ...] = (
    76, None, 74, 72, 72, None, 71, 69, 69, None, 72, 74, 74, None, None, None,
    76, None, 79, 76, 71, None, 72, 74, 74, None, 72, 69, 71, None, None, None,
)  # fmt: skip


def _frequency(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _add_tone(
    buffer: list[float],
    start_s: float,
    duration_s: float,
    frequency: float,
    amplitude: float,
    *,
    decay_per_s: float,
    attack_s: float,
) -> None:
    """Mix a soft tone (fundamental plus quiet 2nd/3rd harmonics) into `buffer`.

    The envelope is a short sine attack, then exponential decay, then a 50 ms
    fade so the note always ends exactly at zero (no clicks).
    """
    rate = TELEPHONY_RATE
    first = int(start_s * rate)
    count = min(int(duration_s * rate), len(buffer) - first)
    fade = int(0.05 * rate)
    attack = max(1, int(attack_s * rate))
    w = 2 * math.pi * frequency / rate
    for n in range(count):
        if n < attack:
            envelope = math.sin(0.5 * math.pi * n / attack)
        else:
            envelope = math.exp(-decay_per_s * (n - attack) / rate)
        if n > count - fade:
            envelope *= (count - n) / fade
        phase = w * n
        wave = math.sin(phase) + 0.25 * math.sin(2 * phase) + 0.08 * math.sin(3 * phase)
        buffer[first + n] += amplitude * envelope * wave


@cache
def hold_music() -> Pcm:
    """The default hold music at 8 kHz (computed once per process, ~1 s of CPU)."""
    chord_s = _BEATS_PER_CHORD * _BEAT_S
    total_s = chord_s * len(_PROGRESSION) * _REPEATS
    buffer = [0.0] * int(total_s * TELEPHONY_RATE)
    eighth = _BEAT_S / 2
    for repeat in range(_REPEATS):
        for index, chord in enumerate(_PROGRESSION):
            start = (repeat * len(_PROGRESSION) + index) * chord_s
            for tone in chord:  # pad: slow swell over the whole chord
                _add_tone(
                    buffer, start, chord_s, _frequency(tone), 900.0,
                    decay_per_s=0.35, attack_s=0.9,
                )  # fmt: skip
            for step, which in enumerate(_ARPEGGIO):
                _add_tone(
                    buffer, start + step * eighth, eighth * 2.5,
                    _frequency(chord[which] + 12), 1500.0,
                    decay_per_s=3.0, attack_s=0.008,
                )  # fmt: skip
    if _REPEATS > 1:
        second_pass = len(_PROGRESSION) * chord_s
        for beat, note in enumerate(_MELODY):
            if note is not None:
                _add_tone(
                    buffer, second_pass + beat * _BEAT_S, _BEAT_S * 1.8,
                    _frequency(note), 1700.0, decay_per_s=1.2, attack_s=0.03,
                )  # fmt: skip
    peak = max(abs(v) for v in buffer) or 1.0
    gain = 0.5 * 32767 / peak  # -6 dBFS peak: pleasant, never harsh after G.711
    samples = array("h", (int(v * gain) for v in buffer))
    return Pcm.from_array(samples, TELEPHONY_RATE)
