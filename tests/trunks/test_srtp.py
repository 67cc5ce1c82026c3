"""SRTP keyed by SDES: the offer/answer rules (never keys over a plain transport) and
libsrtp protecting and authenticating packets."""

from __future__ import annotations

import base64
import os

import pytest

from dipflow.channels.sip.rtp import RtpStream, parse_rtp
from dipflow.channels.sip.sdp import build_sdp, negotiate, parse_sdp
from dipflow.channels.sip.srtp import (
    KEY_BYTES,
    CryptoLine,
    Plain,
    Refused,
    Secured,
    SrtpContext,
    SrtpError,
    accept_answer,
    answer_offer,
    our_offer,
)

KEY = base64.b64encode(bytes(range(30))).decode()
LINE_80 = f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"
LINE_32 = f"2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}|2^31"


def test_rfc4568_example_line_parses_and_oddities_are_refused() -> None:
    # RFC 4568 §9.1's example key parameter (lifetime 2^20, MKI 1:4) carries an MKI.
    with pytest.raises(SrtpError, match="MKI"):
        CryptoLine.parse(
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4"
        )
    line = CryptoLine.parse(
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
    )
    assert line.tag == 1 and len(line.key) == KEY_BYTES
    assert CryptoLine.parse(line.attribute()) == line
    for bad in ("1 F8_128_HMAC_SHA1_80 inline:" + KEY, "x AES_CM_128_HMAC_SHA1_80 inline:" + KEY,
                "1 AES_CM_128_HMAC_SHA1_80 inline:short", LINE_80 + "|2^10",
                LINE_80 + " UNENCRYPTED_SRTP"):  # fmt: skip
        with pytest.raises(SrtpError):
            CryptoLine.parse(bad)


@pytest.mark.parametrize(
    ("profile", "lines", "policy", "tls", "outcome"),
    [
        ("RTP/SAVP", (LINE_80,), "optional", False, Refused),  # keys in the clear: never
        ("RTP/AVP", (LINE_80,), "optional", False, Plain),  # best-effort keys ignored
        ("RTP/AVP", (), "mandatory", True, Refused),
        ("RTP/SAVP", (LINE_80,), "off", True, Refused),
        ("RTP/AVP", (LINE_80,), "off", True, Plain),
        ("RTP/SAVP", (LINE_32, LINE_80), "optional", True, Secured),
        ("RTP/AVP", (LINE_80,), "optional", True, Secured),
        ("RTP/SAVP", ("1 AES_256_CM_HMAC_SHA1_80 inline:" + KEY,), "mandatory", True, Refused),
    ],
)
def test_answering_an_offer(profile: str, lines: tuple[str, ...], policy: str, tls: bool,
                            outcome: type) -> None:  # fmt: skip
    decision = answer_offer(profile, lines, policy, secure_transport=tls)  # type: ignore[arg-type]
    assert isinstance(decision, outcome), decision
    if isinstance(decision, Secured):
        assert decision.line.suite == "AES_CM_128_HMAC_SHA1_80"  # the stronger tag wins
        assert decision.profile == profile  # answered in the offer's own profile


def test_our_offer_and_the_answer_to_it() -> None:
    assert our_offer("mandatory", secure_transport=False).lines == ()  # no keys over UDP/TCP
    offer = our_offer("mandatory", secure_transport=True)
    assert offer.profile == "RTP/SAVP" and len(offer.lines) == 2
    answer_line = CryptoLine(tag=2, suite="AES_CM_128_HMAC_SHA1_32", key=os.urandom(KEY_BYTES))
    assert isinstance(accept_answer(offer, (answer_line.attribute(),)), Secured)
    assert isinstance(accept_answer(offer, ()), Refused)  # mandatory: an answer without key
    assert isinstance(accept_answer(our_offer("optional", secure_transport=True), ()), Plain)


def test_sdp_carries_the_profile_and_keys() -> None:
    body = build_sdp(session_id=1, version=1, address="192.0.2.1", port=4000, codecs=(),
                     dtmf_payload_type=None, profile="RTP/SAVP", crypto=(LINE_80,))  # fmt: skip
    body = body.replace(b"RTP/SAVP ", b"RTP/SAVP 0")
    offer = parse_sdp(body)
    assert offer.profile == "RTP/SAVP" and offer.crypto == (LINE_80,)
    negotiated = negotiate(offer)
    assert negotiated is not None and negotiated.crypto == (LINE_80,)


def test_protect_unprotect_and_forgery() -> None:
    ours, theirs = os.urandom(KEY_BYTES), os.urandom(KEY_BYTES)
    sender = SrtpContext("AES_CM_128_HMAC_SHA1_80", ours, theirs)
    receiver = SrtpContext("AES_CM_128_HMAC_SHA1_80", theirs, ours)
    stream = RtpStream(0)
    plain = stream.packet(bytes([0x55]) * 160)
    protected = sender.protect(plain)
    assert len(protected) == len(plain) + 10  # the 80-bit authentication tag
    assert protected[12:172] != plain[12:]
    assert receiver.unprotect(protected) == plain
    assert receiver.unprotect(protected) is None  # a replay is dropped
    forged = bytearray(sender.protect(stream.packet(bytes(160))))
    forged[20] ^= 1
    assert receiver.unprotect(bytes(forged)) is None  # so is a forgery
    assert receiver.rejected == 2
    assert parse_rtp(plain) is not None
