"""The media layer's exceptions, in one tree. Layer 3 (media).

Third-party errors (espeak-ng, `wave`) are translated where they are caught.

    DipflowError
    └── MediaError            a prompt or piece of audio could not be produced
        ├── TtsError          the TTS engine failed
        ├── PromptNotFound    no audio file by that name (also a LookupError)
        └── AudioFormatError  a WAV file the media layer cannot decode
"""

from __future__ import annotations

from dipflow.errors import DipflowError


class MediaError(DipflowError):
    """A prompt or piece of audio could not be produced. The media layer's root."""


class TtsError(MediaError):
    """The TTS engine failed (library missing, unknown voice, synthesis error)."""


class PromptNotFound(MediaError, LookupError):
    """An audio prompt name that no audio directory holds (or that is not a safe name)."""


class AudioFormatError(MediaError):
    """A WAV file this layer cannot use (not PCM, or a width other than 8/16 bit)."""
