"""Nonce life and replay rules of the registrar (RFC 7616), on the sans-IO registrar."""

from __future__ import annotations

import hashlib
import re

from dipflow.channels.sip.message import parse_message
from dipflow.channels.sip.registrar import AuthOutcome, Registrar


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _register(nonce: str, nc: int, password: str = "pw") -> bytes:
    ha1, ha2 = _md5(f"ann:dipflow:{password}"), _md5("REGISTER:sip:h")
    count = f"{nc:08x}"
    response = _md5(f"{ha1}:{nonce}:{count}:c1:auth:{ha2}")
    return (
        "REGISTER sip:h SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
        "From: <sip:ann@h>;tag=1\r\nTo: <sip:ann@h>\r\nCall-ID: r\r\nCSeq: 1 REGISTER\r\n"
        f'Authorization: Digest username="ann", realm="dipflow", nonce="{nonce}", '
        f'uri="sip:h", response="{response}", qop=auth, nc={count}, cnonce="c1"\r\n'
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _nonce(registrar: Registrar, ip: str, now: float) -> str:
    match = re.search(r'nonce="([^"]+)"', registrar.challenge(ip, now))
    assert match is not None
    return match.group(1)


def _check(registrar: Registrar, data: bytes, ip: str, now: float) -> AuthOutcome:
    return registrar.authenticate(parse_message(data), ip, now).outcome


def test_a_nonce_answered_within_its_millisecond_is_fresh() -> None:
    registrar = Registrar(realm="dipflow", users={"ann": "pw"}, max_expires_s=600)
    nonce = _nonce(registrar, "192.0.2.1", 100.0006)  # its stamp rounds up to 100.001
    assert _check(registrar, _register(nonce, 1), "192.0.2.1", 100.0007) is AuthOutcome.OK


def test_each_answer_once_only_from_its_address_and_not_after_its_life() -> None:
    registrar = Registrar(
        realm="dipflow", users={"ann": "pw"}, max_expires_s=600, nonce_lifetime_s=30
    )
    nonce = _nonce(registrar, "192.0.2.1", 0.0)
    assert _check(registrar, _register(nonce, 1), "192.0.2.9", 1.0) is AuthOutcome.FAILED
    assert _check(registrar, _register(nonce, 1, "bad"), "192.0.2.1", 1.0) is AuthOutcome.FAILED
    assert _check(registrar, _register(nonce, 1), "192.0.2.1", 1.0) is AuthOutcome.OK
    assert _check(registrar, _register(nonce, 1), "192.0.2.1", 2.0) is AuthOutcome.REPLAY
    assert _check(registrar, _register(nonce, 2), "192.0.2.1", 2.0) is AuthOutcome.OK
    assert _check(registrar, _register(nonce, 3), "192.0.2.1", 31.0) is AuthOutcome.STALE


def test_a_forgotten_record_makes_older_nonces_stale_not_replayable() -> None:
    registrar = Registrar(
        realm="dipflow", users={"ann": "pw"}, max_expires_s=600, max_nonce_records=2
    )
    nonces = [_nonce(registrar, "192.0.2.1", float(t)) for t in range(3)]
    for t, nonce in enumerate(nonces):
        assert _check(registrar, _register(nonce, 1), "192.0.2.1", 3.0 + t) is AuthOutcome.OK
    # The first nonce's record was forgotten: its answer is stale, never accepted again.
    assert _check(registrar, _register(nonces[0], 1), "192.0.2.1", 9.0) is AuthOutcome.STALE
