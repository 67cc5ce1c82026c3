"""In-band DTMF detection cost: CPU per call-second of caller audio, by kind of audio.

    .venv/bin/python bench/dtmf.py            # 60 s of each kind of audio

A caller whose phone offers no telephone-event has every 20 ms RTP payload fed to
`dipflow.media.dtmf.DtmfDetector`. What it costs depends on the audio: blocks below the
energy floor (silence) skip the correlations, everything else pays for them. Reported:
CPU seconds per second of audio (= cores per call) and how many such calls one core
could listen to. Audio: digital silence, room noise (-34 dBFS white noise), our own TTS
speech, the hold music, and keys (100 ms tones, 100 ms pauses), all through µ-law.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from array import array

from dipflow.media import EspeakTts, PromptRenderer, g711
from dipflow.media.audio import from_array
from dipflow.media.dtmf import HIGH_HZ, KEYS, LOW_HZ, DtmfDetector
from dipflow.media.music import hold_music


def _seconds(audio: bytes, seconds: float) -> bytes:
    """`audio` (µ-law) repeated to `seconds` long."""
    need = int(seconds * 8000)
    return (audio * (need // max(1, len(audio)) + 1))[:need]


def _keys() -> bytes:
    samples = array("h")
    for key in "1234567890*#":
        row = next(i for i, r in enumerate(KEYS) if key in r)
        low, high = LOW_HZ[row], HIGH_HZ[KEYS[row].index(key)]
        samples.extend(
            round(5000 * (math.sin(2 * math.pi * low * n / 8000)
                          + math.sin(2 * math.pi * high * n / 8000)))
            for n in range(800)
        )  # fmt: skip
        samples.extend([0] * 800)
    return g711.ulaw_encode(from_array(samples))


def _noise() -> bytes:
    rng = random.Random(7)
    samples = array("h", (round(rng.gauss(0, 650)) for _ in range(8000 * 5)))
    return g711.ulaw_encode(from_array(samples))


def measure(audio: bytes) -> float:
    """CPU seconds per second of `audio`, fed as 20 ms payloads."""
    detector = DtmfDetector()
    started = time.process_time()
    for start in range(0, len(audio), 160):
        detector.feed_ulaw(audio[start : start + 160])
    return (time.process_time() - started) / (len(audio) / 8000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    speech = PromptRenderer(EspeakTts()).render_text(
        "Thank you for calling. Your case number is four seven one one. Please hold while "
        "we connect you to the next available agent.", language="en-US", voice=None,
    ).ulaw()  # fmt: skip
    kinds = {
        "silence": bytes([g711.ULAW_SILENCE]) * 160,
        "room noise": _noise(),
        "speech": speech,
        "hold music": g711.ulaw_encode(hold_music().samples),
        "keys": _keys(),
    }
    rows = []
    for name, audio in kinds.items():
        cost = measure(_seconds(audio, args.seconds))
        rows.append({"audio": name, "cpu_ms_per_call_second": round(cost * 1000, 2),
                     "calls_per_core": round(1 / cost) if cost else None})  # fmt: skip
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
