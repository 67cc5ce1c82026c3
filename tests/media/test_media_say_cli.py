"""`dipflow say` writes what a caller would hear, and refuses what espeak-ng cannot say."""

from __future__ import annotations

import wave
from pathlib import Path

from typer.testing import CliRunner

from dipflow.cli.main import app

runner = CliRunner()


def test_say_writes_telephone_audio_in_the_language_asked(tmp_path: Path) -> None:
    german = tmp_path / "de.wav"
    result = runner.invoke(
        app, ["say", "--language", "de-DE", "Für Deutsch drücken Sie die 2.", "-o", str(german)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {german}: ")
    with wave.open(str(german)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        assert audio.getnframes() > 8000  # more than a second of speech
    english = tmp_path / "en.wav"
    runner.invoke(app, ["say", "Für Deutsch drücken Sie die 2.", "-o", str(english)])
    assert english.read_bytes() != german.read_bytes()


def test_say_as_is_expanded_and_shown(tmp_path: Path) -> None:
    out = tmp_path / "amount.wav"
    result = runner.invoke(
        app, ["say", "-l", "de-DE", "--say-as", "currency", "12.50", "-o", str(out)]
    )
    assert result.exit_code == 0
    assert result.stdout.strip().endswith("de-DE: '12 Euro 50'")


def test_an_unknown_voice_is_refused_with_the_closest_name(tmp_path: Path) -> None:
    out = tmp_path / "x.wav"
    result = runner.invoke(app, ["say", "--voice", "Anie", "Hello", "-o", str(out)])
    assert result.exit_code == 2
    assert result.stdout == "say: espeak-ng has no voice `Anie` (did you mean `Annie`?)\n"
    assert not out.exists()
