"""What a prompt says, in which language and voice: rendered for `Play`. Layer 2 (engine).

The flow's `settings.language` and `settings.voice` are templates like any prompt field,
rendered at every prompt (Webex's `Global_Language`: a menu that sets `Language` switches
every later prompt, re-prompts and error prompts included). A prompt's own `language`
and `voice` win over the flow's, a segment's over its prompt's. A language that renders
empty (its variable not set yet) is the default, en-US.

Say-as (`say_as: digits`, or the `say_as` filter inside text) is expanded here, in the
language the text is spoken in, so the command carries the words the TTS engine reads
(see `dipflow.flow.sayas`).
"""

from __future__ import annotations

from dipflow.engine.commands import Play, Spoken
from dipflow.engine.context import Run
from dipflow.flow import expressions, sayas
from dipflow.flow.model import Prompt, PromptSegment


def _render(run: Run, template: str | None, language: str | None = None) -> str:
    if not template:
        return ""
    if not expressions.has_markup(template):
        return template
    context = run.state.context(run.now)
    if language is not None:
        context[sayas.LANGUAGE_KEY] = language
    return expressions.render(template, context)


def flow_language(run: Run) -> str:
    return _render(run, run.index.settings.language).strip() or sayas.DEFAULT_LANGUAGE


def flow_voice(run: Run) -> str | None:
    return _render(run, run.index.settings.voice).strip() or None


def _text(run: Run, part: Prompt | PromptSegment, language: str) -> str:
    text = _render(run, part.text, language)
    return sayas.expand(part.say_as, text, language) if part.say_as is not None else text


def render_prompt(run: Run, prompt: Prompt, prompt_id: str, *, interruptible: bool) -> Play:
    language = _render(run, prompt.language).strip() or flow_language(run)
    voice = _render(run, prompt.voice).strip() or flow_voice(run)
    segments: tuple[Spoken, ...] = ()
    if prompt.segments:
        spoken: list[Spoken] = []
        for segment in prompt.segments:
            segment_language = _render(run, segment.language).strip() or language
            segment_voice = _render(run, segment.voice).strip() or voice
            spoken.append(
                Spoken(
                    text=_text(run, segment, segment_language),
                    language=segment_language,
                    voice=segment_voice,
                )
            )
        segments = tuple(part for part in spoken if part.text.strip())
        text: str | None = " ".join(part.text.strip() for part in segments) or None
        if segments:
            language, voice = segments[0].language, segments[0].voice
    else:
        text = _text(run, prompt, language) if prompt.text else None
    return Play(
        prompt_id=prompt_id,
        text=text,
        audio=_render(run, prompt.audio) or None,
        language=language,
        voice=voice,
        interruptible=interruptible,
        rate=prompt.rate,
        gain_db=prompt.gain_db,
        segments=segments,
    )


def render_apology(run: Run, prompt_id: str) -> Play:
    """The default handler's apology: `settings.apology_prompt` in the flow's language.

    It must reach the caller even when the flow's templates are what failed: a template
    that cannot render falls back to the built-in apology text and the default language."""
    settings = run.index.settings
    try:
        language = flow_language(run)
        voice = flow_voice(run)
        text = _render(run, settings.apology_prompt, language).strip()
    except expressions.ExpressionError:
        language, voice, text = sayas.DEFAULT_LANGUAGE, None, ""
    if not text:
        text = type(settings).model_fields["apology_prompt"].default
    return Play(prompt_id=prompt_id, text=text, language=language, voice=voice)
