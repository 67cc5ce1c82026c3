"""What a peer heard, measured with sox (the recordings are 8 kHz mono WAVs)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def tone_wav(path: Path, frequency: float, seconds: float = 60.0, volume: float = 0.3) -> Path:
    """A sine tone WAV (8 kHz, 16-bit mono) for a phone to play as its microphone."""
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path),
         "synth", f"{seconds}", "sine", f"{frequency}", "vol", f"{volume}"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return path


def silence_wav(path: Path, seconds: float = 60.0) -> Path:
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "trim", "0", f"{seconds}"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return path


def noise_wav(path: Path, seconds: float = 60.0, volume: float = 0.02) -> Path:
    """White noise (a room's hiss at about -34 dBFS) for a phone's microphone."""
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path),
         "synth", f"{seconds}", "whitenoise", "vol", f"{volume}"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return path


def sox_stat(path: Path, start: float, end: float) -> dict[str, float]:
    """`sox FILE -n trim START =END stat`: RMS amplitude (0..1), rough frequency, ..."""
    result = subprocess.run(
        ["sox", str(path), "-n", "trim", f"{start:.3f}", f"={end:.3f}", "stat"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    stats: dict[str, float] = {}
    for line in result.stderr.splitlines():
        name, _, value = line.partition(":")
        try:
            stats[" ".join(name.split())] = float(value)
        except ValueError:
            continue
    return stats


def sox_duration(path: Path) -> float:
    out = subprocess.run(
        ["soxi", "-D", str(path)], capture_output=True, text=True, check=True, timeout=30
    )
    return float(out.stdout)


def loud_windows(path: Path, window_s: float = 0.5, threshold: float = 0.02) -> list[float]:
    """Start times of the windows whose RMS amplitude is above `threshold`."""
    total = sox_duration(path)
    starts = [i * window_s for i in range(int(total / window_s))]
    return [t for t in starts if sox_stat(path, t, t + window_s)["RMS amplitude"] > threshold]


def sounds_like_speech(path: Path, start: float, end: float) -> bool:
    """Speech at a sane level between `start` and `end`: loud 0.2 s windows, unclipped, with
    the pauses between words and sentences that music and noise do not have."""
    windows = [sox_stat(path, t, t + 0.2) for t in _steps(start, end, 0.2)]
    levels = [w["RMS amplitude"] for w in windows]
    return (
        sum(level > 0.03 for level in levels) >= len(levels) // 3
        and min(levels) < 0.01
        and max(w["Maximum amplitude"] for w in windows) < 0.99
    )


def _steps(start: float, end: float, step: float) -> list[float]:
    return [start + i * step for i in range(int((end - start) / step))]
