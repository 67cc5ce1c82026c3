"""Items 6 (web port) and 7 of issue 11: connections and request heads that hold the node.

6. 1,030 idle connections to the web port stopped the whole node: the process ran out
   of file descriptors, SIP INVITEs got 503 and the log grew by 55 MB in 20 s. Now the
   server runs under a lowered `ulimit -n` here (256) and holds at most 50 connections
   per source and half its descriptors in all; idle and half-sent connections are
   closed after `request_read_timeout_s`; other clients, and SIP, keep working.
7. Four connections streaming endless headers added 250 MiB (httptools has no bound on
   a request head). Now a head is at most `max_header_bytes` (400, closed).

Accept failures for lack of descriptors are logged once a minute with a count, not once
per retry: checked on asyncio's own accept loop in a process with 40 descriptors.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.security.serve_web import (
    Served,
    base_config,
    client,
    dipflow_serve,
    free_port,
    login,
)

NOFILE = 256
PER_SOURCE = 50
READ_TIMEOUT_S = 2.0
KEEP_ALIVE_S = 2
FLOOD = 1030

pytestmark = pytest.mark.slow


@dataclass
class Node:
    web: Served
    sip_port: int


def _free_udp_port() -> int:
    while True:
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    sip_port = _free_udp_port()
    config = base_config(
        limits={
            "max_connections_per_source": PER_SOURCE,
            "request_read_timeout_s": READ_TIMEOUT_S,
            "keep_alive_s": KEEP_ALIVE_S,
        }
    )
    config["sip"] = {"host": "127.0.0.1", "port": sip_port}
    path = tmp_path_factory.mktemp("connections")
    with dipflow_serve(path, config, nofile=NOFILE, sip=True) as served:
        yield Node(web=served, sip_port=sip_port)


# -- the attacker's and the legitimate clients' tools -------------------------------------


@contextlib.contextmanager
def idle_connections(port: int, sources: list[str], count: int) -> Iterator[list[socket.socket]]:
    """`count` connections to the web port that never send a byte, spread over `sources`.

    Connected without blocking, all at once, as a flooding client does (the kernel
    retries SYNs the full accept queue dropped); yields when they are connected or have
    had 5 s to."""
    held: list[socket.socket] = []
    try:
        for n in range(count):
            sock = socket.socket()
            sock.bind((sources[n % len(sources)], 0))
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            held.append(sock)
        with select.epoll() as poll:
            for sock in held:
                poll.register(sock.fileno(), select.EPOLLOUT)
            pending = {sock.fileno() for sock in held}
            deadline = time.monotonic() + 5
            while pending and time.monotonic() < deadline:
                for fileno, _ in poll.poll(0.2):
                    poll.unregister(fileno)
                    pending.discard(fileno)
        yield held
    finally:
        for sock in held:
            sock.close()


def wait_closed(sock: socket.socket, limit_s: float) -> float:
    """Seconds until the server closed the connection (AssertionError after `limit_s`)."""
    started = time.monotonic()
    sock.settimeout(limit_s)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError as exc:
        raise AssertionError(f"still open after {limit_s} s") from exc
    except OSError:
        pass  # reset: closed too
    return time.monotonic() - started


def sip_invite(port: int) -> int:
    """Place a SIP call over UDP; the final status (the call is then ended with BYE)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        sock.settimeout(1)
        sdp = (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {local + 2} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        dialog = (
            f"From: <sip:caller@127.0.0.1:{local}>;tag=sec1\r\n"
            f"Call-ID: security-fd-{local}\r\n"
            f"Contact: <sip:caller@127.0.0.1:{local}>\r\n"
            "Max-Forwards: 70\r\n"
        )
        via = f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-sec-{local}\r\n"
        invite = (
            f"INVITE sip:web@127.0.0.1:{port} SIP/2.0\r\n{via}{dialog}"
            f"To: <sip:web@127.0.0.1:{port}>\r\nCSeq: 1 INVITE\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
        )
        for _ in range(15):
            sock.sendto(invite.encode(), ("127.0.0.1", port))
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline:
                try:
                    data, _ = sock.recvfrom(65535)
                except TimeoutError:
                    break
                text = data.decode(errors="replace")
                status = int(text.split(" ", 2)[1])
                if status < 200:
                    continue
                to = next(h for h in text.split("\r\n") if h.lower().startswith("to:"))
                ack_via = f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-ack-{local}\r\n"
                ack = (
                    f"ACK sip:web@127.0.0.1:{port} SIP/2.0\r\n{ack_via if status == 200 else via}"
                    f"{dialog}{to}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
                )
                sock.sendto(ack.encode(), ("127.0.0.1", port))
                if status == 200:
                    bye_via = f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-bye-{local}\r\n"
                    bye = (
                        f"BYE sip:web@127.0.0.1:{port} SIP/2.0\r\n{bye_via}{dialog}{to}\r\n"
                        "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
                    )
                    sock.sendto(bye.encode(), ("127.0.0.1", port))
                return status
        raise TimeoutError("no final answer to the INVITE in 15 s")


def healthy(web: Served, source: str) -> bool:
    try:
        with client(web, source=source) as http:
            return http.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


# -- item 6 -------------------------------------------------------------------------------


def sample_fds(web: Served, seconds: float) -> tuple[int, int]:
    """(most, median) descriptors the server held, sampled every 50 ms for `seconds`.

    The most includes connections accepted a batch at a time and not yet refused; the
    median is what the server keeps."""
    samples: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(web.open_fds())
        time.sleep(0.05)
    return max(samples), statistics.median_low(samples)


def settle_fds(web: Served, at_most: int, within_s: float) -> int:
    """Wait until the server holds at most `at_most` descriptors; how many it holds."""
    deadline = time.monotonic() + within_s
    while (fds := web.open_fds()) > at_most and time.monotonic() < deadline:
        time.sleep(0.1)
    return fds


def test_one_source_cannot_hold_the_web_port(node: Node) -> None:
    # The client's view of a flood is unreliable (the kernel completes handshakes the
    # server never accepts), so what the server holds is read from /proc.
    web = node.web
    base = settle_fds(web, 0, 0)
    log_before = web.log_path.stat().st_size
    with idle_connections(web.port, ["127.0.0.1"], FLOOD):
        peak, kept = sample_fds(web, 1.5)
        assert kept <= base + PER_SOURCE + 8, f"the node kept {kept} descriptors (base {base})"
        assert peak < NOFILE * 0.6, f"the node held up to {peak} of {NOFILE} descriptors"
        # Everybody else is served: pages, sign-in, and calls over SIP.
        assert healthy(web, "127.0.0.2")
        with client(web, source="127.0.0.2") as agent:
            assert login(agent, "ava").status_code == 303
        assert sip_invite(node.sip_port) == 200
        # None of them ever sent a request: closed at the read deadline, though the
        # attacker still holds its sockets.
        left = settle_fds(web, base + 4, READ_TIMEOUT_S + 3)
        assert left <= base + 4, f"{left} descriptors still held (base {base})"
    assert web.alive()
    log = web.log()
    grown = web.log_path.stat().st_size - log_before
    assert grown < 20_000, f"the log grew by {grown} bytes:\n{log[-3000:]}"
    assert "Too many open files" not in log


def test_many_sources_cannot_exhaust_the_nodes_descriptors(node: Node) -> None:
    web = node.web
    sources = [f"127.0.1.{n}" for n in range(1, 22)]  # 21 x 49: under the per-source cap
    base = settle_fds(web, 0, 0)
    log_before = web.log_path.stat().st_size
    with idle_connections(web.port, sources, FLOOD):
        peak, _ = sample_fds(web, 1.5)
        # At most half the descriptors for the web port, plus what is being refused.
        assert peak < NOFILE * 0.9, f"the node held {peak} of its {NOFILE} descriptors"
        assert sip_invite(node.sip_port) == 200  # SIP can still open its media sockets
        # Once the idle connections reach their deadline the web port serves again.
        deadline = time.monotonic() + READ_TIMEOUT_S + 5
        while not healthy(web, "127.0.0.3"):
            assert time.monotonic() < deadline, "the web port did not recover"
            time.sleep(0.2)
    settle_fds(web, base + 4, READ_TIMEOUT_S + 3)
    assert web.alive()
    log = web.log()
    grown = web.log_path.stat().st_size - log_before
    assert grown < 20_000, f"the log grew by {grown} bytes:\n{log[-3000:]}"
    assert "Too many open files" not in log


def test_half_sent_requests_and_idle_keep_alives_time_out(node: Node) -> None:
    port = node.web.port
    # A request head that trickles in, one header every half second, and never ends.
    trickle = socket.create_connection(("127.0.0.1", port))
    trickle.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")

    def keep_trickling() -> None:
        with contextlib.suppress(OSError):
            for n in range(40):
                trickle.sendall(f"X-Slow-{n}: a\r\n".encode())
                time.sleep(0.5)

    threading.Thread(target=keep_trickling, daemon=True).start()
    # A body that stops halfway.
    half_body = socket.create_connection(("127.0.0.1", port))
    half_body.sendall(
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nuser"
    )
    # A complete request, then silence on the kept-alive connection.
    kept = socket.create_connection(("127.0.0.1", port))
    kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert kept.recv(65536).startswith(b"HTTP/1.1 200")
    log_before = node.web.log_size()
    with trickle, half_body, kept:
        assert wait_closed(trickle, READ_TIMEOUT_S + 3) <= READ_TIMEOUT_S + 1.5
        assert wait_closed(half_body, READ_TIMEOUT_S + 3) <= READ_TIMEOUT_S + 1.5
        assert wait_closed(kept, KEEP_ALIVE_S + 3) <= KEEP_ALIVE_S + 1.5
    assert healthy(node.web, "127.0.0.4")
    # Cut-off clients are routine, not failures: no traceback for them.
    assert "Traceback" not in node.web.log_since(log_before)


# -- item 7 -------------------------------------------------------------------------------


def test_endless_request_headers_are_cut_off(node: Node) -> None:
    web = node.web
    before_kib = web.rss_kib()
    answers: list[bytes] = []
    sent: list[int] = []

    def stream_headers() -> None:
        sock = socket.create_connection(("127.0.0.1", web.port), timeout=10)
        total = 0
        line = b"X-Padding: " + b"a" * 1000 + b"\r\n"
        with sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            with contextlib.suppress(OSError):
                for _ in range(256 * 1024):  # up to 256 MiB, or until the server says no
                    sock.sendall(line)
                    total += len(line)
            sent.append(total)
            with contextlib.suppress(OSError):
                answers.append(sock.recv(65536))

    streams = [threading.Thread(target=stream_headers) for _ in range(4)]
    for thread in streams:
        thread.start()
    for thread in streams:
        thread.join(60)
    assert not any(thread.is_alive() for thread in streams), "a stream was never cut off"
    # Each stream was stopped long before its 256 MiB: what the sockets' buffers held.
    assert all(total < 16 * 1024 * 1024 for total in sent), sent
    assert all(a == b"" or a.startswith(b"HTTP/1.1 400") for a in answers), answers
    grown_kib = web.rss_kib() - before_kib
    assert grown_kib < 16 * 1024, f"the server grew by {grown_kib} KiB"
    assert healthy(web, "127.0.0.5")


# -- accept errors --------------------------------------------------------------------------

ACCEPTOR = textwrap.dedent(
    """
    import asyncio, logging, resource, sys

    from dipflow.cli.loopguard import install_accept_error_handler

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    resource.setrlimit(resource.RLIMIT_NOFILE, (40, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    held = []

    class Hold(asyncio.Protocol):
        def connection_made(self, transport):
            held.append(transport)

    async def main():
        loop = asyncio.get_running_loop()
        if sys.argv[1] == "guarded":
            install_accept_error_handler(loop)
        server = await loop.create_server(Hold, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(float(sys.argv[2]))

    asyncio.run(main())
    """
)


def _accept_log(mode: str, seconds: float) -> str:
    process = subprocess.Popen(
        [sys.executable, "-c", ACCEPTOR, mode, str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    with idle_connections(port, ["127.0.0.1"], 100):
        _, err = process.communicate(timeout=seconds + 30)
    return err


def test_accept_errors_are_logged_once_not_per_retry() -> None:
    seconds = 4.5
    plain = _accept_log("plain", seconds)
    guarded = _accept_log("guarded", seconds)
    # The reproduction: asyncio reports every retry, with a traceback each time.
    assert plain.count("socket.accept() out of system resource") >= 3
    assert plain.count("Traceback") >= 3
    # dipflow's handler: one line for the whole episode, no traceback.
    assert guarded.count("cannot accept connections") == 1
    assert "Traceback" not in guarded
    assert len(guarded) < 400, guarded
