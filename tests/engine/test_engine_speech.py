"""Languages, voices, segments and say-as as the caller hears them: the `Play` commands.

A flow sets its language once (`settings.language: "{{ Language }}"`, as Webex's
Global_Language) and every later prompt follows, re-prompts and the apology included; a
prompt can speak several languages in turn; say-as turns numbers into what a TTS engine
reads right."""

from __future__ import annotations

from dipflow.engine.commands import Spoken
from dipflow.flow.loader import load_flow_text
from dipflow.testing import press, run_flow

LANGUAGE_MENU = """\
name: language-menu
settings: {language: "{{ Language }}", voice: "{{ Voice }}"}
variables:
  - {name: Language, default: en-US}
  - {name: Voice, default: ""}
start: start
activities:
  start: {kind: start, next: choose}
  choose:
    kind: menu
    prompt:
      segments:
        - {text: "For English press 1."}
        - {text: "Für Deutsch drücken Sie die 2.", language: de-DE, voice: f2}
    choices: {1: English, 2: Deutsch}
    on: {1: account, 2: german, no_input: account, invalid: account}
  german: {kind: set_variable, variable: Language, value: de-DE, next: voice}
  voice: {kind: set_variable, variable: Voice, value: m3, next: account}
  account:
    kind: menu
    prompt: {text: "{{ Language }}"}
    no_input_prompt: {text: "no input"}
    choices: {1: done}
    max_tries: 2
    on: {1: bye, no_input: broken, invalid: bye}
  broken: {kind: condition, expression: "{{ 1 / 0 }}", on: {true: bye, false: bye}}
  bye: {kind: disconnect_contact}
"""


def test_a_language_chosen_in_a_menu_is_followed_by_every_later_prompt() -> None:
    result = run_flow(load_flow_text(LANGUAGE_MENU), caller=[press("2", when="choose")])
    plays = result.plays
    assert [(p.text, p.language, p.voice) for p in plays] == [
        ("For English press 1. Für Deutsch drücken Sie die 2.", "en-US", None),
        ("de-DE", "de-DE", "m3"),  # the menu prompt
        ("no input", "de-DE", "m3"),  # its re-prompt
        ("de-DE", "de-DE", "m3"),
        # the condition fails: the default handler's apology, in the caller's language
        (
            "We are sorry, we cannot take your call right now. Please call again later. Goodbye.",
            "de-DE",
            "m3",
        ),
    ]
    assert "{{" not in "".join(p.language for p in plays)


def test_each_segment_is_spoken_in_its_own_language_and_voice() -> None:
    result = run_flow(load_flow_text(LANGUAGE_MENU), caller=[press("1", when="choose")])
    assert result.plays[0].segments == (
        Spoken(text="For English press 1.", language="en-US", voice=None),
        Spoken(text="Für Deutsch drücken Sie die 2.", language="de-DE", voice="f2"),
    )
    assert result.plays[0].spoken() == result.plays[0].segments
    assert result.plays[1].spoken() == (Spoken(text="en-US", language="en-US", voice=None),)


SAY_AS = """\
name: say-as
settings: {language: "{{ Language }}"}
variables:
  - {name: Language, default: en-US}
  - {name: Account, default: "4711023"}
  - {name: Balance, default: "1234.5"}
start: start
activities:
  start: {kind: start, next: account}
  account:
    kind: play_message
    prompt: {text: "{{ Account }}", say_as: digits}
    next: balance
  balance:
    kind: play_message
    prompt:
      text: >-
        Your balance on {{ '2026-12-24' | say_as('date') }} at
        {{ '19:05' | say_as('time') }} is {{ Balance | say_as('currency') }}.
    next: phone
  phone:
    kind: play_message
    prompt:
      segments:
        - {text: "Call", language: en-US}
        - {text: "+14155550123", say_as: telephone}
    next: bye
  bye: {kind: disconnect_contact}
"""


def test_say_as_expands_before_the_tts_engine_in_the_prompts_language() -> None:
    english = run_flow(load_flow_text(SAY_AS))
    assert english.prompts[:3] == [
        "4 7 1 1 0 2 3",
        "Your balance on December 24, 2026 at 7:05 PM is 1234 dollars and 50 cents.",
        "Call plus 1, 4 1 5, 5 5 5, 0 1 2 3",
    ]
    german = run_flow(load_flow_text(SAY_AS), variables={"Language": "de-DE"})
    assert german.prompts[1] == ("Your balance on 24. Dezember 2026 at 19 Uhr 5 is 1234 Euro 50.")


def test_a_static_flow_language_and_the_default() -> None:
    flow = load_flow_text(
        "name: x\nsettings: {language: fr-FR, voice: f3}\nstart: s\nactivities:\n"
        "  s: {kind: start, next: m}\n  m: {kind: play_message, prompt: {text: Bonjour},"
        " next: e}\n  e: {kind: disconnect_contact}\n"
    )
    (play,) = run_flow(flow).plays
    assert (play.language, play.voice) == ("fr-FR", "f3")
    empty = load_flow_text(
        "name: x\nsettings: {language: '{{ Unset }}'}\nstart: s\nactivities:\n"
        "  s: {kind: start, next: m}\n  m: {kind: play_message, prompt: {text: Hi},"
        " next: e}\n  e: {kind: disconnect_contact}\n"
    )
    (play,) = run_flow(empty).plays
    assert play.language == "en-US"  # renders empty: the default, never the template
