"""The media layer's exceptions (one tree, third-party errors translated at the boundary)."""

from __future__ import annotations


class MediaError(Exception):
    """A prompt or piece of audio could not be produced."""


class TtsError(MediaError):
    """The TTS engine failed (library missing, unknown voice, synthesis error)."""


class PromptNotFound(MediaError, LookupError):
    """An audio prompt name that no audio directory holds (or that is not a safe name)."""
