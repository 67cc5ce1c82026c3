"""SIP channel capacity: sipp places N concurrent calls; each hears a greeting, then music.

    .venv/bin/python bench/sip.py                 # N = 50, 200, 500
    .venv/bin/python bench/sip.py --calls 50 100 --hold 12

The SIP server runs in its own process (so its CPU and memory can be measured with
psutil) with a scripted host: TTS greeting, then the hold music until the caller
hangs up. sipp (signalling only; the SDP points the RTP at the discard port) places
N calls at --rate calls/s; each lasts --hold seconds. For each N the report gives:
completed/failed calls (sipp), calls that heard the whole greeting (server), the RTP
send jitter (lateness of each 20 ms packet against its absolute deadline: p50/p99/max)
over the whole run, and CPU and memory per call measured while all N calls are up.
A level passes when every call completes and p99 < 5 ms.

Each level runs with SRTP off, then on (same run, same server; `--no-srtp` skips it):
with SRTP on, every call's leg protects each packet it sends (AES_CM_128_HMAC_SHA1_80,
fresh keys per call, libsrtp through pylibsrtp) exactly as an SRTP call does; sipp
cannot decrypt and need not, its RTP goes to the discard port. The report ends with the
TLS handshake cost per call (`--tls-handshakes`): fresh connections to the server's TLS
listener (self-signed EC P-256 certificate), TLS 1.2 and 1.3, the client's wall time and
the server's CPU per handshake. dipflow reuses a connection for every call to a trunk,
so this is the cost of a call only when each call brings its own connection (phones).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from dipflow.channels.seam import ChannelCall, MediaQuality
from dipflow.channels.sip import SipServer, SipSettings
from dipflow.channels.sip.call import SipCall
from dipflow.channels.sip.srtp import KEY_BYTES, SrtpContext
from dipflow.channels.sip.tls import self_signed
from dipflow.channels.sip.trunkconfig import TlsListener
from dipflow.engine.commands import Play, PlayMusic
from dipflow.engine.events import CallerHungUp, Event, PromptDone
from dipflow.media import EspeakTts, PromptRenderer

GREETING = "Welcome to customer care. Please hold while we find you an agent."

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="dipflow bench caller">
  <send retrans="500"><![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:+15550000[call_number]@[local_ip]:[local_port]>;tag=[pid]B[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=bench 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [local_ip]
      t=0 0
      m=audio 9 RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000

  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:+15550000[call_number]@[local_ip]:[local_port]>;tag=[pid]B[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <pause milliseconds="HOLD_MS"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:+15550000[call_number]@[local_ip]:[local_port]>;tag=[pid]B[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"""


# -- the server process ---------------------------------------------------------------


class _BenchCall:
    def __init__(self, host: _BenchHost, channel_call: ChannelCall) -> None:
        self.host = host
        self.channel_call = channel_call
        self.call_id = f"bench-{len(host.calls)}"

    def post(self, event: Event) -> None:
        if isinstance(event, PromptDone) and event.prompt_id == "greeting":
            self.host.greetings_done += 1
            self.host.spawn(self.channel_call.execute(PlayMusic(prompt_id="music")))
        elif isinstance(event, CallerHungUp):
            self.host.hung_up += 1

    def report_media(self, quality: tuple[MediaQuality, ...]) -> None:
        self.host.rtcp_updates += 1  # RTCP runs as in production; its numbers are not read


class _BenchHost:
    """Greeting, then music until the caller hangs up."""

    def __init__(self) -> None:
        self.calls: list[_BenchCall] = []
        self.greetings_done = 0
        self.hung_up = 0
        self.rtcp_updates = 0
        self.refused = 0
        self.srtp = False
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def call_refused(self, *, ani: str, dnis: str, channel: str, status: int, reason: str) -> None:
        self.refused += 1

    def start_call(
        self, channel_call: ChannelCall, *, ani: str, dnis: str, channel: str,
        call_id: str | None = None,
    ) -> _BenchCall:  # fmt: skip
        call = _BenchCall(self, channel_call)
        self.calls.append(call)
        if self.srtp and isinstance(channel_call, SipCall):
            channel_call.session.srtp = SrtpContext(
                "AES_CM_128_HMAC_SHA1_80", os.urandom(KEY_BYTES), os.urandom(KEY_BYTES)
            )
        self.spawn(channel_call.execute(Play(prompt_id="greeting", text=GREETING)))
        return call


async def _serve(rtp_base: int) -> None:
    certs = Path(tempfile.mkdtemp(prefix="dipflow-bench-"))
    self_signed(certs / "cert.pem", certs / "key.pem", names=("127.0.0.1",))
    prompts = PromptRenderer(EspeakTts())
    await asyncio.to_thread(prompts.render_text, GREETING, language="en-US", voice=None)
    greeting = prompts.render_text(GREETING, language="en-US", voice=None)
    greeting.ulaw()
    settings = SipSettings(
        host="127.0.0.1", port=0, transports=("udp",), rtp_port_min=rtp_base,
        rtp_port_max=rtp_base + 9000, invite_rate_per_s=10_000, invite_burst=10_000,
        max_calls=5000,
        tls=TlsListener(port=0, cert_file=str(certs / "cert.pem"),
                        key_file=str(certs / "key.pem")),
    )  # fmt: skip
    host = _BenchHost()
    server = SipServer(settings, host=host, prompts=prompts)  # type: ignore[arg-type]
    await server.start()
    await asyncio.sleep(2)  # hold music rendered and tables built
    hello = {"port": server.address[1], "tls_port": server.ua.tls_port,
             "greeting_s": greeting.duration_s}  # fmt: skip
    print(json.dumps(hello), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "reset":
            server.clock.jitter.reset()
            host.greetings_done = host.hung_up = 0
            host.calls.clear()
        elif line == "stats":
            stats = server.stats()
            stats.update(started=len(host.calls), greetings=host.greetings_done,
                         hung_up=host.hung_up, rtcp_reports=host.rtcp_updates,
                         gc_collections=[g["collections"] for g in gc.get_stats()])  # fmt: skip
            print(json.dumps(stats), flush=True)
        elif line in ("srtp on", "srtp off"):
            host.srtp = line == "srtp on"
        elif line == "quit":
            break
    await server.stop()


# -- the driver ------------------------------------------------------------------------


class _Server:
    def __init__(self, nice: int = 0) -> None:
        rtp_base = 20000 + (os.getpid() % 4) * 10000
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(rtp_base), "--nice", str(nice)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        hello = json.loads(self.process.stdout.readline())
        self.port = int(hello["port"])
        self.tls_port = int(hello["tls_port"])
        self.greeting_s = float(hello["greeting_s"])
        self.ps = psutil.Process(self.process.pid)

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        if command != "stats":  # every other command is one-way
            return {}
        result: dict[str, Any] = json.loads(self.process.stdout.readline())
        return result

    def close(self) -> None:
        try:
            self.ask("quit")
            self.process.wait(10)
        except Exception:
            self.process.kill()


def _sipp_counts(output: str) -> tuple[int, int]:
    ok = failed = 0
    for line in output.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 3 and parts[0] in ("Successful call", "Failed call"):
            value = int(parts[2]) if parts[2].isdigit() else 0
            if parts[0] == "Successful call":
                ok = value
            else:
                failed = value
    return ok, failed


def run_level(
    server: _Server, calls: int, rate: float, hold_s: float, workdir: Path
) -> dict[str, Any]:
    scenario = workdir / "bench_uac.xml"
    scenario.write_text(SCENARIO.replace("HOLD_MS", str(int(hold_s * 1000))))
    server.ask("reset")
    rss_idle = server.ps.memory_info().rss
    sipp = subprocess.Popen(
        ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", "0", "-s", "1000",
         "-m", str(calls), "-l", str(calls), "-r", str(rate), "-nostdin",
         "-timeout", f"{int(calls / rate + hold_s + 60)}s", "-timeout_error",
         f"127.0.0.1:{server.port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=workdir,
    )  # fmt: skip
    plateau: dict[str, Any] = {}
    while sipp.poll() is None:
        time.sleep(0.25)
        stats = server.ask("stats")
        if not plateau and stats["calls"] >= calls:
            plateau = {"t": time.monotonic(), "cpu": server.ps.cpu_times(),
                       "rss": server.ps.memory_info().rss}  # fmt: skip
        elif plateau and "t_end" not in plateau and stats["calls"] < calls:
            plateau.update(t_end=time.monotonic(), cpu_end=server.ps.cpu_times())
    output = sipp.stdout.read() if sipp.stdout else ""
    time.sleep(1.0)
    stats = server.ask("stats")
    ok, failed = _sipp_counts(output)
    result: dict[str, Any] = {
        "calls": calls, "completed": ok, "failed": failed, "heard_greeting": stats["greetings"],
        "jitter_p50_ms": round(stats["rtp_jitter_p50_ms"], 2),
        "jitter_p99_ms": round(stats["rtp_jitter_p99_ms"], 2),
        "jitter_max_ms": round(stats["rtp_jitter_max_ms"], 2),
        "packets": int(stats["rtp_packets_timed"]),
    }  # fmt: skip
    if plateau and "t_end" in plateau:
        seconds = plateau["t_end"] - plateau["t"]
        used = (plateau["cpu_end"].user + plateau["cpu_end"].system) - (
            plateau["cpu"].user + plateau["cpu"].system
        )
        cpu_share = used / seconds if seconds > 0 else 0.0
        result.update(
            plateau_s=round(seconds, 1),
            cpu_cores=round(cpu_share, 3),
            cpu_ms_per_call_s=round(1000 * cpu_share / calls, 3),
            calls_per_core=int(calls / cpu_share) if cpu_share else None,
            rss_kib_per_call=round((plateau["rss"] - rss_idle) / 1024 / calls, 1),
        )
    result["passed"] = (
        ok == calls and failed == 0 and stats["greetings"] == calls
        and result["jitter_p99_ms"] < 5.0
    )  # fmt: skip
    if not result["passed"] and ok != calls:
        result["sipp_tail"] = output[-1500:]
    return result


def tls_handshakes(server: _Server, count: int, version: ssl.TLSVersion) -> dict[str, Any]:
    """`count` fresh TLS connections to the server: client wall time, server CPU each."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the bench measures the handshake, not the PKI
    context.minimum_version = context.maximum_version = version
    times: list[float] = []
    cpu_before = server.ps.cpu_times()
    for _ in range(count):
        started = time.perf_counter()
        with (
            socket.create_connection(("127.0.0.1", server.tls_port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            times.append(time.perf_counter() - started)
    cpu_after = server.ps.cpu_times()
    used = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    times.sort()
    return {
        "tls": version.name, "handshakes": count,
        "client_ms_p50": round(1000 * times[len(times) // 2], 2),
        "client_ms_p99": round(1000 * times[int(len(times) * 0.99) - 1], 2),
        "server_cpu_ms_per_handshake": round(1000 * used / count, 2),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--rate", type=float, default=50.0, help="new calls per second")
    parser.add_argument("--hold", type=float, default=0.0,
                        help="seconds per call (default: ramp-up + greeting + 5 s)")  # fmt: skip
    parser.add_argument("--attempts", type=int, default=2,
                        help="runs per level before it counts as failed (the machine is "
                        "shared: one stall of another process fails a level)")  # fmt: skip
    parser.add_argument("--nice", type=int, default=0,
                        help="niceness of the server process (negative needs privileges): "
                        "a media server is normally run at raised priority")  # fmt: skip
    parser.add_argument("--no-srtp", action="store_true",
                        help="run each level with plain RTP only (no SRTP pass)")  # fmt: skip
    parser.add_argument("--tls-handshakes", type=int, default=200,
                        help="fresh TLS connections to time per TLS version (0: none)")  # fmt: skip
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        if args.nice:
            os.nice(args.nice)
        asyncio.run(_serve(args.serve))
        return
    server = _Server(args.nice)
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for calls in args.calls:
                hold = args.hold or (calls / args.rate + server.greeting_s + 5.0)
                for srtp in (False,) if args.no_srtp else (False, True):
                    server.ask("srtp on" if srtp else "srtp off")
                    for attempt in range(1, args.attempts + 1):
                        result = run_level(server, calls, args.rate, hold, Path(tmp))
                        result.update(srtp=srtp, attempt=attempt,
                                      load_1m=round(os.getloadavg()[0], 2))  # fmt: skip
                        print(json.dumps(result), flush=True)
                        if result["passed"]:
                            break
                    results.append(result)
            handshakes = [
                tls_handshakes(server, args.tls_handshakes, version)
                for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
                if args.tls_handshakes > 0
            ]
            for row in handshakes:
                print(json.dumps(row), flush=True)
    finally:
        server.close()

    def largest(srtp: bool) -> int | None:
        passing = [r["calls"] for r in results if r["passed"] and r["srtp"] == srtp]
        return max(passing) if passing else None

    print(json.dumps({
        "machine": f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total // 2**30} GiB",
        "server_nice": args.nice,
        "largest_passing_N": largest(False),
        "largest_passing_N_srtp": None if args.no_srtp else largest(True),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
