"""G.711 against the standard's reference points and quantisation bounds."""

from __future__ import annotations

import struct
import time

from hypothesis import given
from hypothesis import strategies as st

from dipflow.media import g711


def _pcm(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}h", *values)


def _unpcm(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def test_reference_codes() -> None:
    # ITU-T G.711: zero is 0xFF in µ-law and 0xD5 in A-law (even bits inverted).
    assert g711.ulaw_encode(_pcm([0])) == b"\xff"
    assert g711.alaw_encode(_pcm([0])) == b"\xd5"
    # Full scale: µ-law 0x80/0x00 decode to ±32124, A-law 0xAA/0x2A to ±32256.
    assert _unpcm(g711.ulaw_decode(b"\x80\x00")) == [32124, -32124]
    assert _unpcm(g711.alaw_decode(b"\xaa\x2a")) == [32256, -32256]
    assert g711.ulaw_encode(_pcm([32767, -32768])) == b"\x80\x00"
    assert g711.alaw_encode(_pcm([32767, -32768])) == b"\xaa\x2a"
    # Smallest A-law steps decode to ±8, µ-law's to 0.
    assert _unpcm(g711.alaw_decode(b"\xd5\x55")) == [8, -8]
    assert _unpcm(g711.ulaw_decode(b"\xff\x7f")) == [0, 0]


def test_every_code_survives_decode_then_encode() -> None:
    codes = bytes(range(256))
    ulaw_back = g711.ulaw_encode(g711.ulaw_decode(codes))
    # 0x7F is µ-law's negative zero, which re-encodes as positive zero 0xFF.
    assert ulaw_back == codes.replace(b"\x7f", b"\xff")
    assert g711.alaw_encode(g711.alaw_decode(codes)) == codes


def _ulaw_step(x: int) -> int:
    magnitude = min(abs(x), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    return 1 << (exponent + 3)


def _alaw_step(x: int) -> int:
    magnitude = abs(x) >> 3
    segment = max(1, magnitude.bit_length() - 4)
    return 1 << (segment + 3)


@given(st.integers(min_value=-32768, max_value=32767))
def test_round_trip_error_within_half_a_quantisation_step(x: int) -> None:
    ulaw = _unpcm(g711.ulaw_decode(g711.ulaw_encode(_pcm([x]))))[0]
    alaw = _unpcm(g711.alaw_decode(g711.alaw_encode(_pcm([x]))))[0]
    if abs(x) <= 32124:  # beyond this µ-law clips (G.711 table 2a's last decision value)
        assert abs(ulaw - x) <= _ulaw_step(x) // 2 + 1
    if abs(x) <= 32256:
        assert abs(alaw - x) <= _alaw_step(x) // 2 + 1
    # Both laws keep the sign and the ordering of levels.
    assert (ulaw >= 0) == (x >= 0) or ulaw == 0
    assert (alaw >= 0) == (x >= 0)


def test_signal_to_noise_is_telephone_quality() -> None:
    import math

    values = [int(10000 * math.sin(2 * math.pi * 1000 * n / 8000)) for n in range(8000)]
    for encode, decode in (
        (g711.ulaw_encode, g711.ulaw_decode),
        (g711.alaw_encode, g711.alaw_decode),
    ):
        back = _unpcm(decode(encode(_pcm(values))))
        signal = sum(v * v for v in values)
        noise = sum((a - b) ** 2 for a, b in zip(values, back, strict=True))
        assert 10 * math.log10(signal / noise) > 33  # G.711 gives ~38 dB on a loud tone


def test_transcoding_matches_via_linear() -> None:
    codes = bytes(range(256))
    assert g711.ulaw_to_alaw(codes) == g711.alaw_encode(g711.ulaw_decode(codes))
    assert g711.alaw_to_ulaw(codes) == g711.ulaw_encode(g711.alaw_decode(codes))


def test_encoding_is_fast() -> None:
    samples = _pcm([(n * 37) % 65536 - 32768 for n in range(8000)])
    g711.ulaw_encode(samples)  # build the tables
    g711.alaw_encode(samples)
    start = time.perf_counter()
    for _ in range(10):
        g711.ulaw_encode(samples)
        g711.ulaw_decode(g711.alaw_encode(samples))
    per_second_of_audio = (time.perf_counter() - start) / 10
    assert per_second_of_audio < 0.02  # well over 50x real time for encode + decode
