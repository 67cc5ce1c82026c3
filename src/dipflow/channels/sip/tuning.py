"""Start-up tuning of the SIP channel, so the first calls run as fast as later ones.

Layer 4 (channels). Work that would otherwise fall into the first call (rendering the hold
music, building the G.711 tables) is done once after the sockets are bound, and the
garbage collector is told to leave the start-up objects alone.
"""

from __future__ import annotations

import gc
import logging

from dipflow.media import PromptRenderer

log = logging.getLogger(__name__)


async def warm_up(prompts: PromptRenderer, *, freeze_gc: bool) -> None:
    """Render the hold music and build the G.711 tables now, not in the first call."""

    try:
        music = await prompts.render_audio_async("hold")
        music.ulaw()  # both encodings come from the worker: these are cached
        music.alaw()
    except Exception:  # a broken audio setup shows up per call as PromptFailed
        log.exception("warming up the hold music failed")
    if freeze_gc:
        # A full collection over everything imported and built at start-up stalls the
        # loop for ~100 ms: measured as RTP send jitter. Frozen objects are never
        # scanned again, so collections during calls only walk per-call objects.
        gc.freeze()
