"""Languages and voices against the espeak-ng that is installed (espeakng-loader's data):
a flow's tag finds the right voice, a variant changes how it sounds, and anything espeak
does not have is an error instead of espeak's silent fallback to its default voice."""

from __future__ import annotations

import pytest

from dipflow.flow.voices import language_problem, voice_problem
from dipflow.media.errors import TtsError
from dipflow.media.tts import EspeakTts, espeak_catalog
from dipflow.media.voices import bcp47_case


def test_a_region_picks_the_regional_voice_and_falls_back_to_the_language() -> None:
    catalog = espeak_catalog()
    assert catalog.resolve("en-US", None) == "gmw/en-US"
    assert catalog.resolve("es-MX", None) == "roa/es-419"  # espeak lists es-mx there
    assert catalog.resolve("de-DE", None) == "gmw/de"  # no de-de voice: German
    assert catalog.resolve("fr-CA", None) == "roa/fr"  # French (France) has priority


def test_a_voice_is_a_variant_a_voice_or_both() -> None:
    catalog = espeak_catalog()
    assert catalog.resolve("de-DE", "f2") == "gmw/de+f2"
    assert catalog.resolve("de-DE", "Annie") == "gmw/de+Annie"
    assert catalog.resolve("en-US", "German") == "gmw/de"
    assert catalog.resolve("en-US", "en-GB-x-rp+m3") == "gmw/en-GB-x-rp+m3"


@pytest.mark.parametrize(
    ("language", "voice", "message"),
    [
        ("xx-QQ", None, "espeak-ng has no voice for language 'xx-QQ'"),
        ("de-DE", "nosuch", "espeak-ng has no voice 'nosuch'"),
        ("de-DE", "de+nosuch", "espeak-ng has no voice variant 'nosuch'"),
    ],
)
def test_unknown_languages_and_voices_are_errors(
    language: str, voice: str | None, message: str
) -> None:
    with pytest.raises(TtsError) as caught:
        espeak_catalog().resolve(language, voice)
    assert str(caught.value) == message


def test_espeak_itself_would_have_fallen_back_silently_so_synthesis_refuses() -> None:
    with pytest.raises(TtsError, match="no voice variant 'nosuch'"):
        EspeakTts().synthesize("Hallo", language="de-DE", voice="de+nosuch")


def test_a_variant_changes_the_audio() -> None:
    tts = EspeakTts()
    plain = tts.synthesize("Guten Tag", language="de-DE", voice=None)
    female = tts.synthesize("Guten Tag", language="de-DE", voice="f2")
    assert plain.samples != female.samples


def test_catalog_messages_for_validate_suggest_the_closest_name() -> None:
    catalog = espeak_catalog()
    assert language_problem(catalog, "de-DE") is None
    assert language_problem(catalog, "en-UK") is None  # English, by its primary subtag
    assert language_problem(catalog, "eng-US") == (
        "espeak-ng has no language `eng-US` (did you mean `en-US`?)"
    )
    assert language_problem(catalog, "klingon") == "espeak-ng has no language `klingon`"
    assert voice_problem(catalog, "f2") is None
    assert voice_problem(catalog, "f9") == "espeak-ng has no voice `f9`"
    assert voice_problem(catalog, "Anie") == "espeak-ng has no voice `Anie` (did you mean `Annie`?)"
    assert "de-DE" not in catalog.language_names()  # espeak lists `de`
    assert {"de", "en-US", "en-GB", "fr-FR", "es-419"} <= set(catalog.language_names())


def test_bcp47_case() -> None:
    assert bcp47_case("en-us") == "en-US"
    assert bcp47_case("es-419") == "es-419"
    assert bcp47_case("sr-latn") == "sr-Latn"


FLOW = """\
name: voices
settings: {language: "{{ Language }}", voice: "{{ Voice }}"}
variables:
  - {name: Language, default: en-US}
  - {name: Voice, default: f2}
start: start
activities:
  start: {kind: start, next: choose}
  choose:
    kind: menu
    prompt:
      segments:
        - {text: "For English press 1."}
        - {text: "Für Deutsch drücken Sie die 2.", language: de-DE, voice: Anie}
    choices: {1: English, 2: Deutsch, 3: Français}
    on: {1: bye, 2: german, 3: french, no_input: bye, invalid: bye}
  german: {kind: set_variable, variable: Language, value: dee-DE, next: bye}
  french: {kind: set_variable, variable: Language, value: fr-FR, next: bye}
  bye:
    kind: play_message
    prompt: {text: "Bye", voice: m9}
    next: end
  end: {kind: disconnect_contact}
"""


def test_validate_reports_languages_and_voices_the_engine_lacks_where_they_are_written() -> None:
    from dipflow.flow.loader import validate_text

    flow, problems = validate_text(FLOW, filename="v.yaml", voices=espeak_catalog())
    assert flow is None
    assert [str(p) for p in problems] == [
        "v.yaml:14:76: [choose] espeak-ng has no voice `Anie` (did you mean `Annie`?)",
        "v.yaml:17:59: [german] `Language` sets the language of prompts, and espeak-ng has no"
        " language `dee-DE` (did you mean `de-DE`?)",
        "v.yaml:21:34: [bye] espeak-ng has no voice `m9`",
    ]
    fixed = FLOW.replace("Anie", "Annie").replace("dee-DE", "de-DE").replace("m9", "m3")
    assert validate_text(fixed, filename="v.yaml", voices=espeak_catalog())[1] == []
    # Without a catalog (no TTS engine configured), nothing is checked.
    assert validate_text(fixed.replace("m3", "m9"), filename="v.yaml")[1] == []


def test_a_prompt_in_two_languages_is_two_syntheses_joined_by_a_pause() -> None:
    from dipflow.engine.commands import Spoken
    from dipflow.media.prompts import SEGMENT_PAUSE_S, PromptRenderer

    renderer = PromptRenderer(EspeakTts())
    english = Spoken(text="For English press 1.", language="en-US")
    german = Spoken(text="Für Deutsch drücken Sie die 2.", language="de-DE", voice="f2")
    both = renderer.render_spoken([english, german])
    first = renderer.render_text(english.text, language="en-US", voice=None)
    second = renderer.render_text(german.text, language="de-DE", voice="f2")
    assert both.duration_s == pytest.approx(
        first.duration_s + SEGMENT_PAUSE_S + second.duration_s, abs=0.01
    )
    assert both.pcm.samples.startswith(first.pcm.samples)
    assert both.pcm.samples.endswith(second.pcm.samples)
    assert renderer.render_spoken([english, german]) is both  # cached by its parts
