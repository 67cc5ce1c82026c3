"""`dipflow say`: render a prompt to a WAV file, as a caller hears it. Layer 7 (command line).

The text goes through what a call does to it (say-as expansion, the TTS engine with the
language and voice resolved the same way, 8 kHz telephone audio), so what you hear is
what the caller hears. An unknown language or voice is refused with the closest name,
as `dipflow flow validate` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from dipflow.cli.problems import report_console
from dipflow.flow.sayas import SayAs, expand
from dipflow.flow.voices import language_problem, voice_problem

EXIT_BAD_INPUT = 2


def register(app: typer.Typer) -> None:
    app.command("say")(say)


def say(
    text: Annotated[str | None, typer.Argument(help="What to say (plain text).")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="The WAV file to write.")] = Path(
        "prompt.wav"
    ),
    language: Annotated[
        str, typer.Option("--language", "-l", help="BCP 47 language tag, e.g. de-DE.")
    ] = "en-US",
    voice: Annotated[
        str | None, typer.Option("--voice", help="A voice or variant (f2, m3, Annie, en-US+f2).")
    ] = None,
    say_as: Annotated[
        SayAs | None,
        typer.Option("--say-as", help="Read the text as digits, telephone, date, time, currency."),
    ] = None,
    list_voices: Annotated[
        bool, typer.Option("--list-voices", help="List the languages and voices, then exit.")
    ] = False,
) -> None:
    """Render TEXT as the caller would hear it (8 kHz) into a WAV file."""
    from dipflow.media import MediaError
    from dipflow.media.prompts import PromptRenderer
    from dipflow.media.tts import EspeakTts, espeak_catalog

    console = report_console()
    catalog = espeak_catalog()
    if list_voices:
        console.print(Text("languages: ", style="bold") + Text(" ".join(catalog.language_names())))
        console.print(Text("voices: ", style="bold") + Text(" ".join(catalog.voice_names())))
        return
    if text is None or not text.strip():
        console.print(Text("say: give the text to say", style="red"))
        raise typer.Exit(EXIT_BAD_INPUT)
    problems = [
        p
        for p in (
            language_problem(catalog, language),
            voice_problem(catalog, voice) if voice else None,
        )
        if p is not None
    ]
    if problems:
        for problem in problems:
            console.print(Text(f"say: {problem}", style="red"))
        raise typer.Exit(EXIT_BAD_INPUT)
    spoken = expand(say_as, text, language) if say_as is not None else text
    try:
        audio = PromptRenderer(EspeakTts()).render_text(spoken, language=language, voice=voice)
        output.write_bytes(audio.wav_bytes())
    except (MediaError, OSError) as exc:
        console.print(Text(f"say: {exc}", style="red"))
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    console.print(
        Text(f"wrote {output}: {audio.duration_s:.2f} s, 8 kHz mono, {language}")
        + Text(f", voice {voice}" if voice else "")
        + Text(f": {spoken!r}" if spoken != text else "")
    )
