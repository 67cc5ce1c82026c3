"""The audio codecs of the SIP channel: G.711 µ-law and A-law, G.722. Layer 4 (channels).

Everything we play is rendered as 8 kHz linear PCM (`dipflow.media`), then encoded for
the leg's codec: G.711 by table (`dipflow.media.g711`), G.722 by libg722 (the `G722`
package, Sippy Software's packaging of the ITU reference-derived code that passes the
ITU test vectors). libg722 has an 8 kHz mode: the encoder takes narrowband samples (the
upper sub-band stays empty) and the decoder gives narrowband samples, so a G.722 phone
gets our prompts and a bridged G.711 leg without resampling, and two G.722 legs relay
wideband audio untouched.

G.722 packets: 64 kbit/s, so 160 bytes per 20 ms as for G.711, and the RTP clock is
8000 Hz although the audio is sampled at 16 kHz (RFC 3551 §4.5.2, kept for
compatibility with RFC 1890): one timestamp unit per byte, as for G.711.

A `Transcoder` turns one leg's payloads into another's codec. G.711 to G.711 is a byte
translation; anything through G.722 decodes and encodes, with codec state kept per
direction (G.722 is adaptive: each stream needs its own encoder and decoder).
"""

from __future__ import annotations

import sys
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable
from typing import Final, assert_never

import G722

from dipflow.channels.sip.rtp import FRAME_SAMPLES
from dipflow.channels.sip.sdp import Codec, SdpError, parse_sdp
from dipflow.media import g711

G722_SAMPLE_RATE: Final = 8000
"""libg722's narrowband mode (see the module docstring)."""
G722_BIT_RATE: Final = 64000

SILENCE: Final[dict[Codec, bytes]] = {
    Codec.PCMU: bytes([g711.ULAW_SILENCE]) * FRAME_SAMPLES,
    Codec.PCMA: bytes([g711.ALAW_SILENCE]) * FRAME_SAMPLES,
    # 0xFC: both sub-bands at their zero code; libg722 decodes a run of it to exact zeros.
    Codec.G722: bytes([0xFC]) * FRAME_SAMPLES,
}
"""One 20 ms frame of silence in each codec (comfort silence for idle legs)."""


def _g722() -> G722.G722:
    return G722.G722(G722_SAMPLE_RATE, G722_BIT_RATE)


def _samples(pcm: bytes) -> array[int]:
    """Little-endian PCM (as `dipflow.media` keeps it) as native samples for libg722."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _pcm(samples: array[int]) -> bytes:
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def encode_pcm(pcm: bytes, codec: Codec) -> bytes:
    """8 kHz 16-bit native-endian PCM (a whole prompt) encoded for `codec`."""
    match codec:
        case Codec.PCMU:
            return g711.ulaw_encode(pcm)
        case Codec.PCMA:
            return g711.alaw_encode(pcm)
        case Codec.G722:
            return bytes(_g722().encode(_samples(pcm)))
        case _:
            assert_never(codec)


def decode_pcm(data: bytes, codec: Codec) -> bytes:
    """`data` in `codec` as 8 kHz 16-bit PCM (a fresh decoder: a whole buffer)."""
    match codec:
        case Codec.PCMU:
            return g711.ulaw_decode(data)
        case Codec.PCMA:
            return g711.alaw_decode(data)
        case Codec.G722:
            return _pcm(_g722().decode(data))
        case _:
            assert_never(codec)


def transcode(audio: bytes, source: Codec, target: Codec) -> bytes:
    """A whole buffer (the rest of a prompt) from `source` into `target`."""
    if source is target:
        return audio
    if Codec.G722 not in (source, target):
        return g711.ulaw_to_alaw(audio) if target is Codec.PCMA else g711.alaw_to_ulaw(audio)
    return encode_pcm(decode_pcm(audio, source), target)


class Transcoder:
    """One direction of a bridge: payloads of `source` into `target`, in order."""

    __slots__ = ("_convert", "source", "target")

    def __init__(self, source: Codec, target: Codec) -> None:
        self.source = source
        self.target = target
        self._convert: Callable[[bytes], bytes] = self._build()

    def _build(self) -> Callable[[bytes], bytes]:
        source, target = self.source, self.target
        if source is target:
            return bytes
        if Codec.G722 not in (source, target):
            return g711.ulaw_to_alaw if target is Codec.PCMA else g711.alaw_to_ulaw
        decoder = _g722() if source is Codec.G722 else None
        encoder = _g722() if target is Codec.G722 else None

        def convert(payload: bytes) -> bytes:
            pcm = _pcm(decoder.decode(payload)) if decoder else decode_pcm(payload, source)
            return bytes(encoder.encode(_samples(pcm))) if encoder else encode_pcm(pcm, target)

        return convert

    def __call__(self, payload: bytes) -> bytes:
        return self._convert(payload)


class EncodedCache:
    """Prompts encoded as G.722, by rendering key (G.711 encodings are kept by
    `RenderedAudio` itself); bounded, least recently used out first."""

    def __init__(self, entries: int = 64) -> None:
        self.entries = entries
        self._lock = threading.Lock()  # prompts are encoded in worker threads
        self._items: OrderedDict[str, bytes] = OrderedDict()

    def cached(self, key: str) -> bytes | None:
        """The encoding if it is already here (no encoding work)."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def get(self, key: str, pcm: Callable[[], bytes]) -> bytes:
        found = self.cached(key)
        if found is not None:
            return found
        encoded = encode_pcm(pcm(), Codec.G722)
        with self._lock:
            self._items[key] = encoded
            while len(self._items) > self.entries:
                self._items.popitem(last=False)
        return encoded


G722_PROMPTS: Final = EncodedCache()


def offered_formats(body: bytes) -> list[str] | None:
    """The audio formats an SDP offer names ("opus/48000/2", "PCMU/8000"...), for the
    Warning of a 488 and the log; None when `body` is no usable audio offer at all."""
    try:
        offer = parse_sdp(body)
    except SdpError:
        return None
    names = []
    for pt in offer.payload_types:
        encoding = offer.rtpmap.get(pt)
        if encoding is None:
            encoding = f"{Codec(pt).name}/8000" if pt in Codec._value2member_map_ else f"{pt}"
        if not encoding.lower().startswith(("telephone-event", "cn/", "red/")):
            names.append(encoding)
    return names
