"""Answering digest challenges: RFC 2617's worked example, and our own registrar's check."""

from __future__ import annotations

from dipflow.channels.sip.digest_client import (
    Challenge,
    DigestAccount,
    DigestSession,
    answer,
    challenges,
)
from dipflow.channels.sip.message import SipMessage
from dipflow.channels.sip.registrar import Registrar, parse_digest


def test_rfc2617_example() -> None:
    # RFC 2617 §3.5: the response digest of the worked example is published.
    challenge = Challenge(
        realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        algorithm="MD5", qop="auth", opaque="5ccc069c403ebaf9f0171e9517f40e41",
        stale=False, proxy=False,
    )  # fmt: skip
    value = answer(
        challenge, method="GET", uri="/dir/index.html", username="Mufasa",
        password="Circle Of Life", nonce_count=1, cnonce="0a4f113b",
    )  # fmt: skip
    params = parse_digest(value)
    assert params["response"] == "6629fae49393a05397450978507c4ef1"
    assert params["nc"] == "00000001" and params["qop"] == "auth"
    assert params["opaque"] == "5ccc069c403ebaf9f0171e9517f40e41"


def _register(authorization: tuple[str, str] | None = None) -> SipMessage:
    request = SipMessage(method="REGISTER", uri="sip:dipflow")
    if authorization is not None:
        request.headers.add(*authorization)
    return request


def _challenge_response(registrar: Registrar, status: int = 401) -> SipMessage:
    response = SipMessage(status=status, reason="Unauthorized")
    name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    response.headers.add(name, registrar.challenge(100.0))
    return response


def test_answer_passes_our_registrar_and_wrong_password_gives_up() -> None:
    registrar = Registrar(realm="dipflow", users={"alice": "s3cret"}, max_expires_s=3600)
    session = DigestSession(DigestAccount(username="alice", password="s3cret"))
    header = session.authorize(_register(), _challenge_response(registrar))
    assert header is not None and header[0] == "Authorization"
    assert registrar.authenticate(_register(header), 101.0) == "alice"

    wrong = DigestSession(DigestAccount(username="alice", password="guess"))
    header = wrong.authorize(_register(), _challenge_response(registrar))
    assert header is not None
    assert registrar.authenticate(_register(header), 101.0) is None
    # challenged again (fresh nonce, not stale): the password is wrong, stop retrying
    assert wrong.authorize(_register(header), _challenge_response(registrar)) is None


def test_proxy_then_registrar_challenge_both_answered() -> None:
    registrar = Registrar(realm="dipflow", users={"alice": "s3cret"}, max_expires_s=3600)
    session = DigestSession(DigestAccount(username="alice", password="s3cret"))
    first = session.authorize(_register(), _challenge_response(registrar, 407))
    assert first is not None and first[0] == "Proxy-Authorization"
    second = session.authorize(_register(first), _challenge_response(registrar, 401))
    assert second is not None and second[0] == "Authorization"


def test_realm_filter_and_strongest_algorithm() -> None:
    response = SipMessage(status=401, reason="Unauthorized")
    response.headers.add("WWW-Authenticate", 'Digest realm="a", nonce="n1", algorithm=MD5')
    response.headers.add(
        "WWW-Authenticate", 'Digest realm="a", nonce="n2", algorithm=SHA-256, qop="auth"'
    )
    response.headers.add("WWW-Authenticate", 'Digest realm="a", nonce="n3", algorithm=AKAv1-MD5')
    found = challenges(response)
    assert [c.algorithm for c in found] == ["SHA-256", "MD5"]  # AKA is not ours to answer
    other_realm = DigestSession(DigestAccount(username="u", password="p", realm="b"))
    assert other_realm.authorize(_register(), response) is None
