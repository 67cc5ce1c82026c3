"""espeak-ng TTS through the prompt renderer: real synthesis, plausible audio, caching."""

from __future__ import annotations

from pathlib import Path

import pytest

from dipflow.media import EspeakTts, Pcm, PromptRenderer, TtsError

ENGLISH = "Hello. Thank you for calling. Press 1 to speak to an agent, or 2 to hang up."
GERMAN = "Guten Tag. Drücken Sie die Eins für einen Mitarbeiter oder die Zwei zum Beenden."


def _speech_fraction(pcm: Pcm, threshold: int = 500) -> float:
    """Share of 20 ms frames whose peak exceeds `threshold` (speech, not silence)."""
    values = pcm.as_array()
    frame = pcm.rate // 50
    frames = [values[i : i + frame] for i in range(0, len(values) - frame + 1, frame)]
    loud = sum(1 for f in frames if max(abs(v) for v in f) > threshold)
    return loud / len(frames)


@pytest.mark.parametrize(("language", "text"), [("en-US", ENGLISH), ("de-DE", GERMAN)])
def test_tts_renders_speech_of_plausible_duration_and_level(language: str, text: str) -> None:
    renderer = PromptRenderer(EspeakTts())
    audio = renderer.render_text(text, language=language, voice=None)
    assert audio.pcm.rate == 8000
    # ~14 words at 120-200 words per minute, plus pauses: 3-9 s.
    assert 3.0 < audio.duration_s < 9.0
    level = audio.pcm.rms()
    assert 1500 < level < 20000, level
    assert _speech_fraction(audio.pcm) > 0.5


def test_english_and_german_render_differently() -> None:
    renderer = PromptRenderer(EspeakTts())
    en = renderer.render_text("eins zwei drei", language="en-US", voice=None)
    de = renderer.render_text("eins zwei drei", language="de-DE", voice=None)
    assert en.key != de.key
    assert en.pcm.samples != de.pcm.samples


def test_tts_text_is_plain_text_not_ssml() -> None:
    tts = EspeakTts()
    markup = tts.synthesize("<speak>one</speak>", language="en-US", voice=None)
    plain = tts.synthesize("one", language="en-US", voice=None)
    # Spoken as text, the tags add audible words ("less than speak ..."): clearly longer.
    assert markup.duration_s > plain.duration_s + 0.3


def test_cache_hits_in_memory_and_on_disk(tmp_path: Path) -> None:
    calls: list[str] = []

    class CountingTts:
        name = "counting"

        def synthesize(self, text: str, *, language: str, voice: str | None) -> Pcm:
            calls.append(text)
            return EspeakTts().synthesize(text, language=language, voice=voice)

    first = PromptRenderer(CountingTts(), cache_dir=tmp_path)
    a = first.render_text("Your case is open.", language="en-US", voice=None)
    b = first.render_text("Your case is open.", language="en-US", voice=None)
    assert a is b
    assert calls == ["Your case is open."]
    assert (tmp_path / f"{a.key}.wav").is_file()

    second = PromptRenderer(CountingTts(), cache_dir=tmp_path)  # a restart: disk cache
    c = second.render_text("Your case is open.", language="en-US", voice=None)
    assert calls == ["Your case is open."]
    assert c.key == a.key
    assert c.pcm.samples == a.pcm.samples
    assert second.get(a.key) is c
    assert second.get("not-a-key") is None


def test_unknown_language_is_a_tts_error() -> None:
    with pytest.raises(TtsError):
        EspeakTts().synthesize("hello", language="xx-QQ", voice=None)


def test_espeak_synthesis_is_fast() -> None:
    tts = EspeakTts()
    tts.synthesize("warm up", language="en-US", voice=None)
    import time

    start = time.perf_counter()
    pcm = tts.synthesize(ENGLISH, language="en-US", voice=None)
    elapsed = time.perf_counter() - start
    assert pcm.duration_s > 3
    assert elapsed < 0.5 * pcm.duration_s  # far faster than real time


def test_speaking_rate_and_gain_are_applied() -> None:
    """Webex's `speakingRate` and `volumeGainDb`: a faster rate speaks the same text in
    less time (eSpeak's own rate, no pitch change); a negative gain is quieter."""
    renderer = PromptRenderer(EspeakTts())
    text = "Your account balance is twelve dollars and fifty cents."
    normal = renderer.render_text(text, language="en-US", voice=None)
    fast = renderer.render_text(text, language="en-US", voice=None, rate=1.5)
    quiet = renderer.render_text(text, language="en-US", voice=None, gain_db=-6.0)
    assert fast.duration_s < normal.duration_s * 0.8
    assert quiet.duration_s == pytest.approx(normal.duration_s, rel=0.01)
    # Prompts are normalized to a peak of 0.7 of full scale; -6 dB halves it.
    peak = 0.7 * 32767
    assert max(abs(v) for v in normal.pcm.as_array()) == pytest.approx(peak, rel=0.01)
    quiet_peak = max(abs(v) for v in quiet.pcm.as_array())
    assert quiet_peak == pytest.approx(peak * 10 ** (-6 / 20), rel=0.01)
    assert len({normal.key, fast.key, quiet.key}) == 3  # each cached on its own
    same = renderer.render_text(text, language="en-US", voice=None, rate=1.0, gain_db=0.0)
    assert same is normal  # neutral values are the plain prompt
