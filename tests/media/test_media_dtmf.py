"""In-band DTMF detection: tones made by sox (an independent generator), sent through G.711
as a phone would; speech (espeak) and the hold music must not be taken for keys."""

from __future__ import annotations

import subprocess
import time
from array import array

import pytest

from dipflow.media import EspeakTts, PromptRenderer, g711
from dipflow.media.audio import from_array, to_array
from dipflow.media.dtmf import HIGH_HZ, KEYS, LOW_HZ, DtmfDetector
from dipflow.media.music import hold_music

PAIRS = {KEYS[lo][hi]: (LOW_HZ[lo], HIGH_HZ[hi]) for lo in range(4) for hi in range(4)}


def sox(*synth: str, seconds: float) -> array[int]:
    """8 kHz mono 16-bit samples from `sox -n ... synth SECONDS ...` (sine terms are mixed)."""
    out = subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw", "-",
         "synth", f"{seconds}", *synth],
        capture_output=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    return to_array(out)


def tone(key: str, seconds: float, *, low_db: float = -10.0, high_db: float = -10.0) -> array[int]:
    """The key's tone pair, each tone at the given level (dBFS peak)."""
    low, high = PAIRS[key]
    lo = sox("sine", f"{low}", seconds=seconds)
    hi = sox("sine", f"{high}", seconds=seconds)
    g_lo, g_hi = 10 ** (low_db / 20), 10 ** (high_db / 20)
    return array("h", (round(a * g_lo + b * g_hi) for a, b in zip(lo, hi, strict=True)))


def silence(seconds: float) -> array[int]:
    return array("h", bytes(2 * round(8000 * seconds)))


def through_g711(samples: array[int], law: str) -> list[str]:
    """Encode as the phone does, then feed the detector 20 ms RTP payloads."""
    pcm = from_array(samples)
    encoded = g711.ulaw_encode(pcm) if law == "u" else g711.alaw_encode(pcm)
    detector = DtmfDetector()
    feed = detector.feed_ulaw if law == "u" else detector.feed_alaw
    keys: list[str] = []
    for start in range(0, len(encoded), 160):
        keys += feed(encoded[start : start + 160])
    return keys


@pytest.mark.parametrize("law", ["u", "a"])
def test_every_key_of_a_dialled_sequence_is_heard_once(law: str) -> None:
    sequence = "123A456B789C*0#D"
    audio = array("h")
    for key in sequence:
        audio += tone(key, 0.1) + silence(0.1)
    assert "".join(through_g711(audio, law)) == sequence


def test_q24_shortest_tones_and_pauses_are_heard() -> None:
    """ITU-T Q.24: 40 ms tones with 40 ms pauses must be accepted."""
    audio = array("h")
    for key in "5555":
        audio += tone(key, 0.040) + silence(0.040)
    assert through_g711(audio, "u") == ["5", "5", "5", "5"]


def test_a_held_key_is_one_digit_and_a_blip_is_none() -> None:
    audio = tone("7", 1.5) + silence(0.2) + tone("8", 0.015) + silence(0.2)
    assert through_g711(audio, "u") == ["7"]


@pytest.mark.parametrize(
    ("low_db", "high_db", "heard"),
    [
        (-10, -7, True),  # reverse twist 3 dB: accepted
        (-10, -4, False),  # reverse twist 6 dB: rejected
        (-6, -12, True),  # normal twist 6 dB: accepted
        (-4, -14, False),  # normal twist 10 dB: rejected
        (-40, -40, True),  # quiet, but a clean pair
        (-52, -52, False),  # below the detector's floor
    ],
)
def test_twist_and_level_limits(low_db: float, high_db: float, heard: bool) -> None:
    audio = silence(0.1) + tone("9", 0.1, low_db=low_db, high_db=high_db) + silence(0.1)
    assert through_g711(audio, "u") == (["9"] if heard else [])


def test_one_tone_alone_is_not_a_key() -> None:
    audio = sox("sine", f"{LOW_HZ[0]}", seconds=0.2)
    assert through_g711(array("h", (v // 3 for v in audio)), "u") == []


def test_keys_are_heard_through_noise() -> None:
    """A pair at -10 dBFS per tone over white noise at -30 dBFS RMS (about 17 dB SNR)."""
    keys = array("h")
    for key in "2580":
        keys += tone(key, 0.1) + silence(0.1)
    noise = sox("whitenoise", "vol", "0.05", seconds=len(keys) / 8000)
    mixed = array("h", (max(-32768, min(32767, a + b)) for a, b in zip(keys, noise, strict=False)))
    assert through_g711(mixed, "u") == list("2580")


def test_speech_and_hold_music_are_not_taken_for_keys() -> None:
    """Talk-off: the prompts dipflow itself speaks, and its music, as a caller's audio."""
    renderer = PromptRenderer(EspeakTts())
    texts = [
        "Hello and welcome to dipflow. For an agent, press one. To hear our goodbye, press two.",
        "Your case number is four seven one one, opened on the third of March.",
        "Please hold while we connect you to the next available agent. Thank you for waiting.",
        "Sixty six, seventy seven, eighty eight, ninety nine: one two three four five six.",
    ]
    for text in texts:
        ulaw = renderer.render_text(text, language="en-US", voice=None).ulaw()
        detector = DtmfDetector()
        assert [
            k for i in range(0, len(ulaw), 160) for k in detector.feed_ulaw(ulaw[i : i + 160])
        ] == []
    music = g711.ulaw_encode(hold_music().samples)
    detector = DtmfDetector()
    heard = [k for i in range(0, len(music), 160) for k in detector.feed_ulaw(music[i : i + 160])]
    assert heard == []


def test_cost_per_call_second_is_small() -> None:
    """The detector runs on every caller whose phone offered no telephone-event."""
    audio = array("h")
    for key in "1234567890":
        audio += tone(key, 0.1) + silence(0.1)
    speech = PromptRenderer(EspeakTts()).render_text(
        "Please hold while we connect you to the next available agent.", language="en-US",
        voice=None,
    ).ulaw()  # fmt: skip
    payload = g711.ulaw_encode(from_array(audio)) + speech
    seconds = len(payload) / 8000
    detector = DtmfDetector()
    started = time.process_time()
    for start in range(0, len(payload), 160):
        detector.feed_ulaw(payload[start : start + 160])
    cpu = time.process_time() - started
    # Measured ~3 ms of CPU per call-second; the bound leaves room for a slow shared machine.
    assert cpu / seconds < 0.03, cpu / seconds
