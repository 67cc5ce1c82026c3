"""Which languages and voices espeak-ng speaks, and how a flow names them. Layer 3 (media).

espeak-ng lists its voices with the languages each speaks and a priority (lower is
preferred): `English (America)` speaks `en-us` (2) and `en` (3). Variants (`f2`, `m3`,
`Annie`...) are files in `espeak-ng-data/voices/!v` that change how any voice sounds.

A flow names:

- a **language** as a BCP 47 tag, `de-DE`: the voice speaking exactly that tag with the
  best priority, else the best voice for its primary subtag (`de-DE` -> `de`, `en-AU` ->
  `en`). A tag whose primary subtag no voice speaks is unknown.
- a **voice** as a variant (`f2`: the language's voice, sounding as `f2`), an espeak
  voice by name (`German`), identifier (`gmw/de`) or file name (`de`, `en-US`), or a
  voice and a variant (`en-US+f2`). Anything else is unknown.

Unknown is an error (`TtsError`, and `dipflow flow validate` reports it): espeak itself
silently falls back to a default voice for `de+nosuch`, which a caller would hear as the
wrong voice with no trace of why.

`EspeakCatalog` implements the flow layer's `VoiceCatalog`, for `validate` and `lint`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dipflow.media.errors import TtsError


@dataclass(frozen=True, slots=True)
class EspeakVoice:
    name: str
    """`English (America)`."""
    identifier: str
    """`gmw/en-US`: what `espeak_SetVoiceByName` is given."""
    languages: tuple[tuple[int, str], ...]
    """(priority, lower-case tag), as espeak lists them."""

    @property
    def file_name(self) -> str:
        return self.identifier.rsplit("/", 1)[-1]


def _norm(text: str) -> str:
    return text.strip().replace("_", "-").lower()


def bcp47_case(tag: str) -> str:
    """`en-us` -> `en-US`, `es-419` -> `es-419`, `en-gb-scotland` unchanged but the region."""
    parts = tag.split("-")
    return "-".join(
        [parts[0].lower()]
        + [p.upper() if len(p) == 2 else p.lower() if len(p) != 4 else p.title() for p in parts[1:]]
    )


class EspeakCatalog:
    """The installed voices and variants; `resolve` turns a flow's language and voice into
    the voice espeak loads."""

    engine = "espeak-ng"

    def __init__(self, voices: Sequence[EspeakVoice], variants: Sequence[str]) -> None:
        self.voices = tuple(voices)
        self.variants = {variant.lower(): variant for variant in variants}
        self._by_language: dict[str, tuple[int, EspeakVoice]] = {}
        for voice in self.voices:
            for priority, tag in voice.languages:
                best = self._by_language.get(tag)
                if best is None or priority < best[0]:
                    self._by_language[tag] = (priority, voice)
        self._by_name: dict[str, EspeakVoice] = {}
        for voice in self.voices:
            for key in (voice.name, voice.identifier, voice.file_name):
                self._by_name.setdefault(_norm(key).replace(" ", "-"), voice)

    # -- VoiceCatalog ------------------------------------------------------------------------

    def has_language(self, tag: str) -> bool:
        return self.voice_for_language(tag) is not None

    def has_voice(self, voice: str) -> bool:
        try:
            self._parse_voice(voice)
        except TtsError:
            return False
        return True

    def language_names(self) -> Sequence[str]:
        return sorted(bcp47_case(tag) for tag in self._by_language)

    def voice_names(self) -> Sequence[str]:
        names = {voice.file_name for voice in self.voices} | set(self.variants.values())
        return sorted(names)

    # -- resolution --------------------------------------------------------------------------

    def voice_for_language(self, tag: str) -> EspeakVoice | None:
        wanted = _norm(tag)
        if not wanted:
            return None
        exact = self._by_language.get(wanted)
        if exact is not None:
            return exact[1]
        primary = self._by_language.get(wanted.split("-", 1)[0])
        return primary[1] if primary is not None else None

    def _parse_voice(self, voice: str) -> tuple[EspeakVoice | None, str | None]:
        """(voice or None for the language's, variant or None); TtsError when unknown."""
        text = voice.strip()
        base, plus, variant_name = text.partition("+")
        variant: str | None = None
        if plus:
            variant = self.variants.get(variant_name.strip().lower())
            if variant is None:
                raise TtsError(f"espeak-ng has no voice variant {variant_name.strip()!r}")
        key = _norm(base).replace(" ", "-")
        found = self._by_name.get(key)
        if found is not None:
            return found, variant
        if not plus and key in self.variants:
            return None, self.variants[key]
        raise TtsError(f"espeak-ng has no voice {text!r}")

    def resolve(self, language: str, voice: str | None) -> str:
        """What `espeak_SetVoiceByName` loads for a prompt in `language` with `voice`."""
        chosen: EspeakVoice | None = None
        variant: str | None = None
        if voice and voice.strip():
            chosen, variant = self._parse_voice(voice)
        if chosen is None:
            chosen = self.voice_for_language(language)
            if chosen is None:
                raise TtsError(f"espeak-ng has no voice for language {language!r}")
        return chosen.identifier + (f"+{variant}" if variant else "")
