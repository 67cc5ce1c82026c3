"""Hold music, resampling, WAV I/O and audio-file prompts."""

from __future__ import annotations

import math
import wave
from array import array
from pathlib import Path

import pytest

from dipflow.media import (
    HOLD_MUSIC,
    AudioFormatError,
    MediaError,
    Pcm,
    PromptNotFound,
    PromptRenderer,
    read_wav,
    resample,
    wav_bytes,
)
from dipflow.media.music import hold_music


class _NoTts:
    name = "none"

    def synthesize(self, text: str, *, language: str, voice: str | None) -> Pcm:
        raise AssertionError("not used")


@pytest.mark.slow
def test_hold_music_is_a_deterministic_30_to_60_second_8khz_loop() -> None:
    music = hold_music()
    assert music.rate == 8000
    assert 30 <= music.duration_s <= 60
    hold_music.cache_clear()
    assert hold_music().samples == music.samples  # deterministic
    level = music.rms()
    assert 1500 < level < 8000  # audible, not harsh
    peak = max(abs(v) for v in music.as_array())
    assert peak < 0.6 * 32767


def test_hold_music_loops_without_a_click() -> None:
    values = hold_music().as_array()
    # Start and end sit at silence, so the wrap-around joins two near-zero samples.
    assert abs(values[0]) < 50
    assert abs(values[-1]) < 50
    largest_step = max(abs(values[i + 1] - values[i]) for i in range(len(values) - 1))
    assert abs(values[0] - values[-1]) < largest_step / 20


def test_hold_music_has_no_long_silences() -> None:
    values = hold_music().as_array()
    second = 8000
    quiet = [
        s for s in range(0, len(values) - second, second)
        if max(abs(v) for v in values[s : s + second]) < 500
    ]  # fmt: skip
    assert quiet == []


def test_renderer_serves_hold_music_by_name() -> None:
    renderer = PromptRenderer(_NoTts())
    music = renderer.render_audio(HOLD_MUSIC)
    assert renderer.render_audio("hold") is music
    assert renderer.get(music.key) is music
    assert len(music.ulaw()) == music.pcm.frame_count


def _tone(rate: int, freq: float, seconds: float) -> Pcm:
    values = array(
        "h",
        (int(8000 * math.sin(2 * math.pi * freq * n / rate)) for n in range(int(rate * seconds))),
    )
    return Pcm.from_array(values, rate)


def test_resample_keeps_duration_level_and_pitch() -> None:
    source = _tone(22050, 1000.0, 1.0)
    out = resample(source, 8000)
    assert out.rate == 8000
    assert abs(out.duration_s - 1.0) < 0.01
    assert abs(out.rms() - source.rms()) / source.rms() < 0.05
    values = out.as_array()
    crossings = sum(1 for i in range(1, len(values)) if (values[i - 1] < 0) != (values[i] < 0))
    assert 1980 <= crossings <= 2020  # still 1 kHz


def test_resample_removes_content_above_the_new_nyquist() -> None:
    source = _tone(22050, 6000.0, 0.5)  # cannot exist at 8 kHz; must not alias to 2 kHz
    assert resample(source, 8000).rms() < 0.2 * source.rms()


def test_wav_round_trip_and_audio_dirs(tmp_path: Path) -> None:
    pcm = _tone(16000, 440.0, 0.5)
    (tmp_path / "welcome.wav").write_bytes(wav_bytes(pcm))
    assert read_wav(wav_bytes(pcm)) == pcm
    renderer = PromptRenderer(_NoTts(), audio_dirs=[tmp_path])
    audio = renderer.render_audio("welcome")
    assert audio.pcm.rate == 8000
    assert abs(audio.duration_s - 0.5) < 0.01
    assert renderer.render_audio("welcome.wav").key == audio.key
    with wave.open(str(tmp_path / "out.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(audio.pcm.samples)
    assert read_wav((tmp_path / "out.wav").read_bytes()) == audio.pcm
    assert read_wav(audio.wav_bytes()) == audio.pcm


@pytest.mark.parametrize("name", ["../secret", "/etc/passwd", ".hidden", "a/b", "missing", ""])
def test_unsafe_or_missing_audio_names_are_not_found(tmp_path: Path, name: str) -> None:
    (tmp_path / "secret.wav").write_bytes(wav_bytes(_tone(8000, 440, 0.1)))
    renderer = PromptRenderer(_NoTts(), audio_dirs=[tmp_path / "sub"])
    (tmp_path / "sub").mkdir()
    with pytest.raises(PromptNotFound):
        renderer.render_audio(name)


def _sox(tmp_path: Path, name: str, output: tuple[str, ...], effects: tuple[str, ...]) -> bytes:
    """A WAV file written by sox (real material, not our own encoder)."""
    import shutil
    import subprocess

    sox = shutil.which("sox")
    assert sox, "sox (Debian package sox) is required for this test"
    target = tmp_path / name
    subprocess.run([sox, "-n", *output, str(target), *effects], check=True, capture_output=True)
    return target.read_bytes()


def test_read_wav_decodes_sox_stereo_8bit_and_16bit_files(tmp_path: Path) -> None:
    # A 440 Hz tone at half scale: its RMS is 0.5/sqrt(2) of full scale in any format.
    tone = ("synth", "0.5", "sine", "440", "vol", "0.5")
    for name, fmt in (("s16.wav", ("-b", "16")), ("u8.wav", ("-b", "8", "-e", "unsigned"))):
        data = _sox(tmp_path, name, ("-r", "16000", "-c", "2", *fmt), tone)
        pcm = read_wav(data)
        assert pcm.rate == 16000
        assert abs(pcm.duration_s - 0.5) < 0.01  # two channels became one
        assert abs(pcm.rms() - 32768 * 0.5 / math.sqrt(2)) < 32768 * 0.01
        out = resample(pcm, 8000)
        assert abs(out.duration_s - 0.5) < 0.01
        assert abs(out.rms() - pcm.rms()) / pcm.rms() < 0.05


def test_level_changes_clip_instead_of_wrapping_around() -> None:
    from dipflow.media.audio import normalize, scale

    loud = scale(_tone(8000, 440.0, 0.1), 10.0)  # 8000 * 10 is far beyond 16 bits
    values = loud.as_array()
    assert max(values) == 32767 and min(values) == -32768
    # A wrapped sample would flip sign: every sample keeps the sign of the source.
    source = _tone(8000, 440.0, 0.1).as_array()
    assert all((a >= 0) == (b >= 0) for a, b in zip(source, values, strict=True) if a)
    peak = max(abs(v) for v in normalize(_tone(8000, 440.0, 0.1), 0.5).as_array())
    assert abs(peak - 0.5 * 32767) <= 1


def test_a_file_that_is_not_a_wav_is_a_media_error_naming_it(tmp_path: Path) -> None:
    # A channel catches MediaError to tell the engine the prompt failed: a bad audio file
    # must land there, not escape as a bare ValueError.
    with pytest.raises(AudioFormatError, match="not a PCM WAV file"):
        read_wav(b"RIFF....not really")
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not really")
    renderer = PromptRenderer(_NoTts(), audio_dirs=[tmp_path])
    with pytest.raises(MediaError, match=r"audio 'broken\.wav': not a PCM WAV file"):
        renderer.render_audio("broken.wav")
