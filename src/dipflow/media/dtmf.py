"""In-band DTMF detection: key presses heard as tones in G.711 audio. Layer 3 (media).

For callers whose phone offers no telephone-event (RFC 4733) and sends its keys as tones
in the audio. The tones are the ITU-T Q.23 pairs (one of four low, one of four high
frequencies); acceptance follows the usual receiver checks (ITU-T Q.24, Bellcore
GR-506):

- each block of 102 samples (12.75 ms at 8 kHz) is correlated with the eight
  frequencies (a Goertzel/DFT term at the exact frequency, computed as two dot products
  so the loop runs in C); at this block length a neighbouring DTMF frequency falls near
  the first null of the window, about 22 dB down;
- energy: each tone of the pair must be at least `MIN_TONE_AMPLITUDE` (about -46 dBFS
  peak, far below the -10 dBm0 phones send), and the pair must carry `MIN_PAIR_SHARE` of
  the block's energy (speech and music spread theirs);
- purity: the strongest tone of each group must stand `MIN_GROUP_RATIO` above the
  others of its group;
- twist: the high tone may be at most 4 dB stronger (reverse twist) or 8 dB weaker
  (normal twist) than the low one;
- duration: the same key in two consecutive blocks (a tone of 40 ms, Q.24's shortest
  valid one, always covers two) reports it once; two blocks without it (25 ms, under
  Q.24's 40 ms shortest pause) end the press, so a held key is one digit.

Not checked: Q.24's rejection of tones more than 3.5 % off frequency (a softphone's
tones are exact; a lenient receiver only costs talk-off margin, tested with speech and
music).
"""

from __future__ import annotations

import math
from array import array
from functools import cache
from operator import mul

from dipflow.media.g711 import alaw_decode_sample, ulaw_decode_sample

RATE = 8000
BLOCK = 102
LOW_HZ = (697.0, 770.0, 852.0, 941.0)
HIGH_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")
"""KEYS[low][high]: the key of each frequency pair (ITU-T Q.23 table 1)."""

MIN_TONE_AMPLITUDE = 160.0
"""Peak amplitude (of 32768) each tone needs: about -46 dBFS."""
MIN_PAIR_SHARE = 0.75
"""Share of the block's energy the two tones must hold."""
MIN_GROUP_RATIO = 4.0
"""Power ratio of a group's strongest tone over the next (6 dB)."""
MAX_REVERSE_TWIST = 10 ** (4 / 10)
"""High tone over low tone, power: at most 4 dB."""
MAX_NORMAL_TWIST = 10 ** (8 / 10)
"""Low tone over high tone, power: at most 8 dB."""
MIN_LOW_SHARE = MIN_PAIR_SHARE / (1 + MAX_REVERSE_TWIST)
"""The least share of a valid block's energy its low tone holds."""
HITS_TO_REPORT = 2
MISSES_TO_RELEASE = 2


@cache
def _basis() -> tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]:
    """cos and sin of each DTMF frequency over one block (low group first)."""
    tables = []
    for frequency in (*LOW_HZ, *HIGH_HZ):
        step = 2 * math.pi * frequency / RATE
        tables.append(
            (
                tuple(math.cos(step * n) for n in range(BLOCK)),
                tuple(math.sin(step * n) for n in range(BLOCK)),
            )
        )
    return tuple(tables)


@cache
def _decode_table(law: str) -> tuple[int, ...]:
    decode = ulaw_decode_sample if law == "u" else alaw_decode_sample
    return tuple(decode(code) for code in range(256))


def classify_block(block: array[int] | list[int]) -> str | None:
    """The key whose tone pair fills this block of `BLOCK` samples, if any."""
    energy = sum(map(mul, block, block))
    # The pair's energy is at least two tones at the minimum amplitude (A^2 N / 2 each).
    if energy < MIN_TONE_AMPLITUDE**2 * BLOCK:
        return None  # silence or quiet noise: most blocks end here, before any DFT
    basis = _basis()
    low = [
        sum(map(mul, block, cos)) ** 2 + sum(map(mul, block, sin)) ** 2 for cos, sin in basis[:4]
    ]
    low_index = max(range(4), key=low.__getitem__)
    low_power = low[low_index]
    # |X|^2 of a sine of amplitude A over N samples is (A N / 2)^2.
    floor = (MIN_TONE_AMPLITUDE * BLOCK / 2) ** 2
    # Within the twist limits the low tone holds at least a fifth of a valid block's energy
    # (MIN_PAIR_SHARE / (1 + reverse twist)): speech and noise mostly stop here, at half cost.
    if low_power < floor or 2 * low_power / BLOCK < MIN_LOW_SHARE * energy:
        return None
    high = [
        sum(map(mul, block, cos)) ** 2 + sum(map(mul, block, sin)) ** 2 for cos, sin in basis[4:]
    ]
    high_index = max(range(4), key=high.__getitem__)
    high_power = high[high_index]
    if high_power < floor:
        return None
    if high_power > low_power * MAX_REVERSE_TWIST or low_power > high_power * MAX_NORMAL_TWIST:
        return None
    for group, peak in ((low, low_power), (high, high_power)):
        if any(p * MIN_GROUP_RATIO > peak for p in group if p is not peak):
            return None
    # A tone's energy over the block is 2 |X|^2 / N.
    if 2 * (low_power + high_power) / BLOCK < MIN_PAIR_SHARE * energy:
        return None
    return KEYS[low_index][high_index]


class DtmfDetector:
    """Feed a call's received audio in order; get each key press once."""

    def __init__(self) -> None:
        self._pending: list[int] = []
        self._candidate: str | None = None
        self._hits = 0
        self._misses = 0
        self._pressed: str | None = None
        self.blocks = 0

    def feed_ulaw(self, payload: bytes) -> list[str]:
        return self.feed_samples(list(map(_decode_table("u").__getitem__, payload)))

    def feed_alaw(self, payload: bytes) -> list[str]:
        return self.feed_samples(list(map(_decode_table("a").__getitem__, payload)))

    def feed_samples(self, samples: list[int]) -> list[str]:
        """Linear 16-bit samples at 8 kHz; returns the keys whose press began in them."""
        pending = self._pending
        pending.extend(samples)
        keys: list[str] = []
        start = 0
        while len(pending) - start >= BLOCK:
            key = self._step(classify_block(pending[start : start + BLOCK]))
            if key is not None:
                keys.append(key)
            start += BLOCK
        del pending[:start]
        return keys

    def _step(self, key: str | None) -> str | None:
        self.blocks += 1
        if self._pressed is not None:
            if key == self._pressed:
                self._misses = 0
                return None
            self._misses += 1
            if self._misses < MISSES_TO_RELEASE:
                return None
            self._pressed = None  # released: a new press may begin
            self._candidate, self._hits = None, 0
        if key is None:
            self._candidate, self._hits = None, 0
            return None
        if key == self._candidate:
            self._hits += 1
        else:
            self._candidate, self._hits = key, 1
        if self._hits >= HITS_TO_REPORT:
            self._pressed, self._misses = key, 0
            return key
        return None
