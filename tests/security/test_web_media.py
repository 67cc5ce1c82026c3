"""Item 15 of issue 11: `/media/<sha256(text)>.wav` was a "did this customer call?" oracle.

A rendered prompt's key is a hash of its text, voice and engine, and `/media/<key>.wav`
served it to anyone: hash "Hello Ada Lovelace. Your latest case..." and ask. Now the
phone gets, for each prompt it plays, `/media/<key>/<mac>.wav`, the MAC binding the key to
a random scope in that browser's signed cookie under a server secret. The browser that
was played a prompt fetches it; nobody else can, even with its full URL; and a prompt
that exists answers exactly like one that does not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.security.serve_web import (
    Served,
    base_config,
    client,
    cookie_header,
    dipflow_serve,
    next_message,
    open_socket,
)

pytestmark = pytest.mark.slow  # a real `dipflow serve` in a subprocess

MEDIA_URL = re.compile(r"/media/([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)\.wav")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = base_config(phone_public=True)
    with dipflow_serve(tmp_path_factory.mktemp("media"), config) as running:
        yield running


def _first_prompt_url(served: Served, cookie: str, source: str) -> str:
    """Place a browser call and return the URL of the first prompt it is played."""
    with open_socket(served, "/phone/ws", cookie=cookie, source=source) as phone:
        phone.send(json.dumps({"type": "call", "ani": "+14155550123", "dnis": "web"}))
        url = str(next_message(phone, "play", timeout=30)["url"])
        phone.send(json.dumps({"type": "hangup"}))
    return url


def test_a_prompt_is_served_only_to_the_browser_it_was_played_to(served: Served) -> None:
    with client(served) as victim, client(served, source="127.0.0.21") as prober:
        victim.get("/phone")
        url = _first_prompt_url(served, cookie_header(victim), "127.0.0.1")
        match = MEDIA_URL.fullmatch(url)
        assert match is not None, url
        key = match.group(1)

        played = victim.get(url)
        assert played.status_code == 200 and played.content[:4] == b"RIFF"
        assert "public" not in played.headers["cache-control"]

        prober.get("/phone")  # a browser of its own, with its own scope
        missing = prober.get(f"/media/{'0' * 64}.wav")
        # The oracle: the content hash alone, as the prober computes it from a guess.
        guessed = prober.get(f"/media/{key}.wav")
        assert (guessed.status_code, guessed.text) == (missing.status_code, missing.text)
        assert guessed.status_code == 404
        # Even the victim's full URL (from a log, a shared screen) is refused to others...
        stolen = prober.get(url)
        nothing = prober.get(f"/media/{'0' * 64}/{match.group(2)}.wav")
        assert stolen.status_code == 404
        assert (stolen.status_code, stolen.text) == (nothing.status_code, nothing.text)
        # ...and the prober's own call of the same prompt gets a URL of its own.
        own = _first_prompt_url(served, cookie_header(prober), "127.0.0.21")
        assert own != url and MEDIA_URL.fullmatch(own) and own.split("/")[2] == key
        assert prober.get(own).status_code == 200
        assert victim.get(own).status_code == 404
