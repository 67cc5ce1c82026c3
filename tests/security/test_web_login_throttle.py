"""Items 1 and 12 of issue 11: the login throttle.

1. 41 concurrent logins for one agent, 40 wrong and then the right one: every attempt
   used to pass the throttle before the first failure was recorded, so all 40 passwords
   were checked and the right one got in. Now an attempt is counted before its password
   is checked: once the budget is spent, the right password is refused too (429).
12. Five bad logins used to lock the real agent out for five minutes, whoever sent them.
   Now the throttle is per address and per username and address, with progressive
   delays: the guesser waits longer and longer, the agent at their own desk logs in.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from tests.security.serve_web import (
    PASSWORDS,
    Served,
    base_config,
    client,
    cookie_header,
    csrf_from,
    dipflow_serve,
    login,
)

pytestmark = pytest.mark.slow  # a real `dipflow serve` in a subprocess


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with dipflow_serve(tmp_path_factory.mktemp("throttle"), base_config()) as running:
        yield running


def _raw_login(served: Served, cookie: str, body: str) -> socket.socket:
    """Send a login POST on its own connection; the caller reads the answer later."""
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    head = (
        "POST /login HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{served.port}\r\n"
        f"Cookie: {cookie}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    sock.sendall(head.encode() + body.encode())
    return sock


def _answer(sock: socket.socket) -> tuple[int, str]:
    data = b""
    with sock:
        while chunk := sock.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    return int(head.split(" ", 2)[1]), head


def test_concurrent_guesses_are_counted_before_the_password_check(served: Served) -> None:
    with client(served) as http:
        token = csrf_from(http.get("/desktop").text)
        cookie = cookie_header(http)

    def body(password: str) -> str:
        fields = {"username": "ava", "password": password, "csrf_token": token}
        return urlencode({**fields, "next": "/desktop"})

    # 40 wrong passwords in flight at once (scrypt runs in worker threads, so they all
    # wait there together), then the right one while they are still being checked.
    wrong = [_raw_login(served, cookie, body(f"guess-{n}")) for n in range(40)]
    time.sleep(0.1)
    right = _raw_login(served, cookie, body(PASSWORDS["ava"]))
    answers = [_answer(sock) for sock in wrong]
    right_status, right_head = _answer(right)

    checked = [status for status, _ in answers if status == 401]
    refused = [head for status, head in answers if status == 429]
    assert right_status == 429, f"the right password got in after the budget: {right_head}"
    assert "set-cookie" not in right_head.lower()
    assert len(checked) <= 5, f"{len(checked)} passwords were checked (budget 5)"
    assert len(checked) + len(refused) == 40
    assert all(re.search(r"(?i)retry-after: \d+", head) for head in refused)


def test_a_guesser_slows_down_only_themselves(served: Served) -> None:
    with client(served, source="127.0.0.3") as attacker:
        statuses = [login(attacker, "ben", f"guess-{n}").status_code for n in range(8)]
        assert statuses == [401] * 5 + [429] * 3
        blocked = login(attacker, "ben", "guess-again")
        first_wait = int(blocked.headers["retry-after"])
        assert 1 <= first_wait <= 2
        assert "Too many failed logins" in blocked.text

        # The real agent, at another address, is not locked out by any of it.
        with client(served, source="127.0.0.4") as agent:
            welcome = login(agent, "ben")
            assert welcome.status_code == 303, welcome.text
            assert agent.get("/desktop/session").json()["username"] == "ben"

        # The guesser's delays grow: after the wait one more guess is checked, and the
        # next must wait twice as long.
        time.sleep(first_wait + 0.1)
        assert login(attacker, "ben", "guess-after-wait").status_code == 401
        again = login(attacker, "ben", "guess-at-once")
        assert again.status_code == 429
        assert int(again.headers["retry-after"]) >= 2 * first_wait - 1


def test_spraying_usernames_from_one_address_is_throttled_by_address(served: Served) -> None:
    with client(served, source="127.0.0.5") as sprayer:
        statuses = [login(sprayer, f"user{n}", "password").status_code for n in range(25)]
    assert statuses[:20] == [401] * 20  # the address's free attempts (agents share NAT)
    assert set(statuses[20:]) == {429}
    # Others are unaffected.
    with client(served, source="127.0.0.6") as agent:
        assert login(agent, "ava").status_code == 303
