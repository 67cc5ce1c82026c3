"""SIP channel capacity: sipp places N concurrent calls; each hears a greeting, then music.

    .venv/bin/python bench/sip.py --calls 1000 2000              # two attempts per level
    .venv/bin/python bench/sip.py --calls 1000 --mix             # + DTMF, agents, new prompts
    .venv/bin/python bench/sip.py --calls 1000 --rt 50           # server in SCHED_FIFO
    .venv/bin/python bench/sip.py --calls 500 --render-workers 0 --profile
                                          # the single-loop layout, with a stall profile

The server runs in its own process pinned to one core (`taskset -c --server-cpu`,
default 0) with a scripted host: a TTS greeting, then the hold music until the caller
hangs up. sipp, pinned to the other core (`--sipp-cpu`, default 1), places N calls at
--rate calls/s (signalling only: the SDP points RTP at the discard port); each lasts
until all N are up plus the greeting plus 5 s. Every attempt of a level also runs the
physical ceiling on the server's core (`bench/rtp_ceiling.py`: a minimal raw-UDP pacer
sending the same N streams of 172-byte packets every 20 ms), so dipflow's calls per
core is reported as a share of what a bare pure-Python sender manages on the same core
in the same minute.

Per attempt: completed/failed calls (sipp), calls that heard the whole greeting
(server), RTP send jitter (lateness of each 20 ms packet against its absolute
deadline: p50/p99/max) over the whole run, the server's and sipp's CPU while all N
calls are up, the ceiling's jitter and CPU, and the load average before and after.
A level passes when every call completes and p99 < 5 ms (with --mix also: every
caller's digit heard, every second call bridged, no prompt failed). Every attempt is a
row of the table (and a line of --out, JSON).

`--media process|thread|inline` picks where RTP is paced (the product's default is the
process, with `--media-loop uvloop`); CPU is reported in all and by role (control
plane, media worker, render workers). --profile adds `bench/stall_profile.py`'s account
of what ran on the event loop whenever a frame was late (inline media). RTP goes to a
bound socket nobody reads (a phone dropping what it gets), not to the discard port,
whose ICMP errors cost the kernel ~2 µs a packet. Results: docs/benchmarks.md#sip.

Each level runs with SRTP off, then on (same run, same server; `--no-srtp` skips it):
with SRTP on, every call's leg protects each packet it sends (AES_CM_128_HMAC_SHA1_80,
fresh keys per call, libsrtp through pylibsrtp) exactly as an SRTP call does; sipp
cannot decrypt and need not. The report ends with the TLS handshake cost per call
(`--tls-handshakes`): fresh connections to the server's TLS listener (self-signed EC
P-256 certificate), TLS 1.2 and 1.3, the client's wall time and the server's CPU per
handshake. dipflow reuses a connection for every call to a trunk, so this is the cost
of a call only when each call brings its own connection (phones).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from dipflow.channels.seam import AgentEndpoint, ChannelCall, MediaQuality
from dipflow.channels.sip import SipServer, SipSettings
from dipflow.channels.sip.call import SipCall
from dipflow.channels.sip.srtp import KEY_BYTES, SrtpContext
from dipflow.channels.sip.tls import self_signed
from dipflow.channels.sip.trunkconfig import TlsListener
from dipflow.engine.commands import Play, PlayMusic
from dipflow.engine.events import (
    AgentDisconnected,
    CallerHungUp,
    DigitsCollected,
    Event,
    PromptDone,
    PromptFailed,
)
from dipflow.media import EspeakTts, PromptRenderer

BENCH = Path(__file__).resolve().parent
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
      m=audio SINK_PORT RTP/AVP 0 101
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

MIX_SCENARIO = SCENARIO.replace(
    "m=audio SINK_PORT RTP/AVP 0 101", "m=audio [media_port] RTP/AVP 0 101"
).replace(
    '<pause milliseconds="HOLD_MS"/>',
    '<pause milliseconds="3000"/>\n'
    '  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_1.pcap"/>'
    "</action></nop>\n"
    '  <pause milliseconds="HOLD_MS"/>',
)
"""The mixed load's caller: as above, but RTP comes to sipp's media port, and 3 s in
(during the greeting, which it interrupts) the caller presses 1 (RFC 4733, sipp's pcap)."""

TALKING_CALLER_SCENARIO = SCENARIO.replace(
    "m=audio SINK_PORT RTP/AVP 0 101", "m=audio CALLERS_PORT RTP/AVP 0 101"
)
"""The mixed load's caller with `--callers talk`: sipp signals only; the SDP names the
callers' phones (bench/rtp_talker.py --digit-after 3), which talk for the whole call, as
phones do, and press 1 in their own stream 3 s after the greeting starts."""


# -- the server process ---------------------------------------------------------------


class _BenchCall:
    def __init__(self, host: _BenchHost, channel_call: ChannelCall) -> None:
        self.host = host
        self.channel_call = channel_call
        self.call_id = f"bench-{len(host.calls)}"

        self.started = time.monotonic()
        self.bridged = False
        self.ended = False
        self.queued = False
        """Greeting over, hearing music (where announcements go)."""

    def post(self, event: Event) -> None:
        host = self.host
        if isinstance(event, PromptDone):
            if event.prompt_id == "greeting":
                host.greetings_done += 1
            elif event.prompt_id.startswith("news"):
                host.announcements_done += 1
            if not self.bridged:  # back to the queue's music
                self.queued = True
                host.spawn(self.channel_call.execute(PlayMusic(prompt_id="music")))
        elif isinstance(event, PromptFailed):
            # An announcement picked for a caller whose BYE is already in (the caller's
            # hang-up reaches this call one loop turn later) is not the server failing.
            if event.reason == "call ended":
                host.prompts_after_hangup += 1
            else:
                host.prompts_failed += 1
                host.prompt_failures[event.reason] = host.prompt_failures.get(event.reason, 0) + 1
        elif isinstance(event, DigitsCollected):
            host.digits += 1
        elif isinstance(event, CallerHungUp | AgentDisconnected):
            host.hung_up += 1
            self.ended = True

    def report_media(self, quality: tuple[MediaQuality, ...]) -> None:
        self.host.rtcp_updates += 1  # RTCP runs as in production; its numbers are not read


class _BenchHost:
    """Greeting, then music until the caller hangs up. With `mix`: the flow's CPU per
    call (the engine replaying a recorded call of the bundled data-dip flow), every
    second call bridged to an agent's phone (sipp UAS echoing RTP) `agent_after_s`
    into the call, and `news_per_s` new announcements (text never rendered before) to
    calls still queueing."""

    def __init__(self, *, mix: bool = False, agent_uri: str = "", agent_after_s: float = 8.0,
                 news_per_s: float = 0.0) -> None:  # fmt: skip
        self.calls: list[_BenchCall] = []
        self.greetings_done = 0
        self.announcements_done = 0
        self.prompts_failed = 0
        self.prompts_after_hangup = 0
        self.prompt_failures: dict[str, int] = {}
        self.digits = 0
        self.bridged = 0
        self.bridge_failed = 0
        self.hung_up = 0
        self.rtcp_updates = 0
        self.refused = 0
        self.mix = mix
        self.agent_uri = agent_uri
        self.agent_after_s = agent_after_s
        self.news_per_s = news_per_s
        self.news_sent = 0
        self.agent_refusals: dict[int, int] = {}
        self.bridge_ended_first = 0
        self.srtp = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._engine: Any = None
        if mix:
            from dipflow.engine import Engine
            from dipflow.flow.bundled import bundled_path
            from dipflow.flow.loader import load_flow
            from engine import engine_call, record_call

            flow = load_flow(bundled_path("ms-dynamics-data-dip"))
            engine, (log, _steps) = Engine(flow), record_call(flow)
            self._engine = lambda: engine_call(engine, log)

    def reset(self) -> None:
        self.calls.clear()
        self.greetings_done = self.announcements_done = self.prompts_failed = 0
        self.digits = self.bridged = self.bridge_failed = self.hung_up = self.news_sent = 0
        self.agent_refusals.clear()
        self.bridge_ended_first = self.prompts_after_hangup = 0
        self.prompt_failures.clear()

    def counters(self) -> dict[str, int]:
        return {
            "started": len(self.calls), "greetings": self.greetings_done,
            "announcements": self.announcements_done, "news_sent": self.news_sent,
            "prompts_failed": self.prompts_failed, "prompt_failures": dict(self.prompt_failures),
            "prompts_after_hangup": self.prompts_after_hangup, "digits": self.digits,
            "bridged": self.bridged, "bridge_failed": self.bridge_failed,
            "hung_up": self.hung_up, "agent_refusals": dict(self.agent_refusals),
            "bridge_ended_first": self.bridge_ended_first, "rtcp_reports": self.rtcp_updates,
        }  # fmt: skip

    async def agents(self, call: _BenchCall) -> None:
        await asyncio.sleep(self.agent_after_s)
        if call.ended:
            return
        endpoint = AgentEndpoint(agent_id="a", display_name="Agent", sip_uri=self.agent_uri)
        if await call.channel_call.connect_agent(endpoint):
            call.bridged = True
            self.bridged += 1
        elif call.ended:
            self.bridge_ended_first += 1  # the caller hung up while the agent's phone rang
            self.bridge_failed += 1
        else:
            self.bridge_failed += 1

    async def news(self) -> None:
        """New prompts at a steady rate, each text unique (rendered for the first time)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        rng = random.Random(7)
        tick = 0  # the schedule's own count: `news_sent` restarts at each reset
        while True:
            tick += 1
            self.news_sent += 1
            await asyncio.sleep(max(0.0, start + tick / self.news_per_s - loop.time()))
            waiting = [c for c in self.calls[-400:] if c.queued and not c.bridged and not c.ended]
            if not waiting:
                continue
            call = rng.choice(waiting)
            call.queued = False  # until this announcement is over
            text = (f"You are number {tick % 50 + 1} in the queue. Announcement "
                    f"{tick} of run {os.getpid()}: thank you for waiting.")  # fmt: skip
            self.spawn(call.channel_call.execute(
                Play(prompt_id=f"news{self.news_sent}", text=text)))  # fmt: skip

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def call_refused(self, *, ani: str, dnis: str, channel: str, status: int, reason: str) -> None:
        self.refused += 1

    def start_call(
        self, channel_call: ChannelCall, *, ani: str, dnis: str, channel: str,
        call_id: str | None = None, ani_verified: bool = True,
    ) -> _BenchCall:  # fmt: skip
        call = _BenchCall(self, channel_call)
        self.calls.append(call)
        if self.srtp and isinstance(channel_call, SipCall):
            channel_call.session.srtp = SrtpContext(
                "AES_CM_128_HMAC_SHA1_80", os.urandom(KEY_BYTES), os.urandom(KEY_BYTES)
            )
        if self._engine is not None:
            self._engine()  # the flow's own CPU for this call, on the loop as in the runtime
        self.spawn(channel_call.execute(Play(prompt_id="greeting", text=GREETING)))
        if self.mix and self.agent_uri and len(self.calls) % 2 == 0:
            self.spawn(self.agents(call))
        return call


async def _serve(options: argparse.Namespace) -> None:
    monitor = None
    if options.profile:
        from dipflow.channels.sip.media import MediaClock
        from stall_profile import StallMonitor

        monitor = StallMonitor()
        monitor.install()
        MediaClock.observer = monitor.note_packet  # the pacer on this loop (inline media)
    certs = Path(tempfile.mkdtemp(prefix="dipflow-bench-"))
    self_signed(certs / "cert.pem", certs / "key.pem", names=("127.0.0.1",))
    prompts = PromptRenderer(EspeakTts(), workers=options.render_workers,
                             worker_niceness=options.render_niceness)  # fmt: skip
    prompts.start()
    greeting = await prompts.render_text_async(GREETING, language="en-US", voice=None)
    settings = SipSettings(
        host="127.0.0.1", port=0, transports=("udp",), rtp_port_min=options.serve,
        rtp_port_max=options.serve + 9000, invite_rate_per_s=10_000, invite_burst=10_000,
        max_calls=5000, media_mode=options.media, media_loop=options.media_loop,
        media_realtime_priority=options.rt if options.media != "inline" else 0,
        kernel_relay=options.kernel_relay[0], media_slice_us=options.media_slice_us[0],
        thin_unheard_audio=options.thin[0] == "on",
        tls=TlsListener(port=0, cert_file=str(certs / "cert.pem"),
                        key_file=str(certs / "key.pem")),
    )  # fmt: skip
    host = _BenchHost(mix=options.mix, agent_uri=options.agent_uri,
                      news_per_s=options.news)  # fmt: skip
    server = SipServer(settings, host=host, prompts=prompts)  # type: ignore[arg-type]
    await server.start()
    if options.news:
        host.spawn(host.news())
    on_outgoing = server.bridge.on_outgoing

    def count_refusals(event: Any) -> None:  # why agent legs fail, for the report
        status = getattr(event, "status", None)
        if status is not None:
            host.agent_refusals[status] = host.agent_refusals.get(status, 0) + 1
        on_outgoing(event)

    server.bridge.on_outgoing = count_refusals  # type: ignore[method-assign]
    await asyncio.sleep(2)  # hold music rendered and tables built
    hello = {"port": server.address[1], "tls_port": server.ua.tls_port,
             "greeting_s": greeting.duration_s,
             "loop": type(asyncio.get_running_loop()).__module__}  # fmt: skip
    print(json.dumps(hello), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "reset":
            server.reset_stats()
            host.reset()
            if monitor is not None:
                monitor.reset()
        elif line == "stats":
            stats: dict[str, Any] = dict(server.stats())
            stats.update(host.counters(),
                         gc_collections=[g["collections"] for g in gc.get_stats()])  # fmt: skip
            print(json.dumps(stats), flush=True)
        elif line == "profile":
            print(json.dumps(monitor.report() if monitor else {}), flush=True)
        elif line in ("srtp on", "srtp off"):
            host.srtp = line == "srtp on"
        elif line == "quit":
            break
    await server.stop()
    prompts.close()


# -- the driver ------------------------------------------------------------------------


class _Server:
    def __init__(
        self, args: argparse.Namespace, kernel_relay: str, slice_us: int, thin: str
    ) -> None:
        self.kernel_relay = kernel_relay
        rtp_base = 20000 + (os.getpid() % 4) * 10000
        command = [sys.executable, __file__, "--serve", str(rtp_base), "--loop", args.loop,
                   "--kernel-relay", kernel_relay, "--media-slice-us", str(slice_us),
                   "--thin", thin,
                   "--agent-uri", args.agent_uri, "--news", str(args.news),
                   *(["--mix"] if args.mix else []), "--rt", str(args.rt),
                   "--render-workers", str(args.render_workers),
                   "--render-niceness", str(args.render_niceness),
                   "--media", args.media, "--media-loop", args.media_loop]  # fmt: skip
        if args.profile:
            command.append("--profile")
        # The pacer runs on the server's loop: --rt puts the whole server in SCHED_FIFO.
        self.process = subprocess.Popen(
            [*_pinned(args.server_cpu, args.nice), *command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        hello = json.loads(self.process.stdout.readline())
        self.port = int(hello["port"])
        self.tls_port = int(hello["tls_port"])
        self.greeting_s = float(hello["greeting_s"])
        self.loop = str(hello["loop"])
        self.ps = psutil.Process(self.process.pid)

    def processes(self) -> list[psutil.Process]:
        """The server and any media processes it started (all on the server's core)."""
        return [self.ps, *self.ps.children(recursive=True)]

    def cpu_seconds(self) -> float:
        return sum(self.cpu_split().values())

    def cpu_split(self) -> dict[str, float]:
        """CPU seconds so far by role: the control plane (SIP, the host), the media worker,
        the render workers (any other child)."""
        split = {"control": 0.0, "media": 0.0, "render": 0.0}
        for process in self.processes():
            try:
                times = process.cpu_times()
                command = " ".join(process.cmdline())
            except psutil.NoSuchProcess:
                continue
            role = (
                "control" if process.pid == self.ps.pid
                else "media" if "media_worker" in command else "render"
            )  # fmt: skip
            split[role] += times.user + times.system
        return split

    def rss(self) -> int:
        return sum(p.memory_info().rss for p in self.processes())

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        if command not in ("stats", "profile"):
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


_RT_PRIORITY = 0


def _pinned(cpu: int, nice: int, *, realtime: bool = True) -> list[str]:
    """Run on one core, at a niceness (negative needs root), and with --rt in the
    real-time class (SCHED_FIFO, root): both only outweigh *other* work on a shared
    machine, and the server and the ceiling always get the same."""
    command = ["nice", "-n", str(nice), "taskset", "-c", str(cpu)]
    if realtime and _RT_PRIORITY:
        command = ["chrt", "-f", str(_RT_PRIORITY), *command]
    return command


SINK = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
"""Where all RTP goes: a bound socket nobody reads (a phone that drops what it gets).
The discard port would answer every packet with an ICMP error the kernel must make."""


def run_ceiling(cpu: int, streams: int, seconds: float, nice: int) -> dict[str, Any]:
    output = subprocess.run(
        [*_pinned(cpu, nice), sys.executable, str(BENCH / "rtp_ceiling.py"),
         "--streams", str(streams), "--seconds", str(seconds),
         "--port", str(SINK.getsockname()[1])],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result: dict[str, Any] = json.loads(output)
    return result


def _free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


AGENT_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="dipflow bench agent phones">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]A[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [local_ip]
      t=0 0
      m=audio ECHO_PORT RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000

  ]]></send>
  <recv request="ACK" optional="true"/>
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

  ]]></send>
</scenario>
"""
"""Agents' phones answer at once; their SDP names the echo port (bench/rtp_echo.py), so
each agent sends back what it hears and the relay carries audio both ways; or, with
`--agents talk`, the talker's (bench/rtp_talker.py): each agent sends its own stream."""


def start_agents(
    cpu: int, nice: int, workdir: Path, kind: str = "echo"
) -> tuple[list[subprocess.Popen[bytes]], str]:
    """Agents' phones: sipp answering every INVITE (signalling only) and one RTP echo
    process for all of them, both on the load generator's core. (sipp's own -rtp_echo in
    the same process as its SIP made it too slow to answer: INVITEs timed out at 1,000.)"""
    port, echo_port = _free_port(), _free_port() & ~1
    scenario = workdir / "bench_agents.xml"
    scenario.write_text(AGENT_SCENARIO.replace("ECHO_PORT", str(echo_port)))
    pinned = _pinned(cpu, nice, realtime=False)
    echo = subprocess.Popen(
        [*pinned, sys.executable, str(BENCH / f"rtp_{'talker' if kind == 'talk' else 'echo'}.py"),
         "--port", str(echo_port)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    agents = subprocess.Popen(
        [*pinned, "sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port),
         "-nostdin", "-m", "1000000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir,
    )  # fmt: skip
    return [agents, echo], f"sip:agent@127.0.0.1:{port}"


def run_level(
    server: _Server, calls: int, rate: float, hold_s: float, workdir: Path, sipp_cpu: int,
    nice: int, mix: bool, callers_port: int = 0,
) -> dict[str, Any]:  # fmt: skip
    scenario = workdir / "bench_uac.xml"
    text = (
        TALKING_CALLER_SCENARIO.replace("CALLERS_PORT", str(callers_port)) if callers_port
        else MIX_SCENARIO if mix else SCENARIO
    ).replace("HOLD_MS", str(int(hold_s * 1000)))  # fmt: skip
    scenario.write_text(text.replace("SINK_PORT", str(SINK.getsockname()[1])))
    server.ask("reset")
    rss_idle = server.rss()
    sipp = subprocess.Popen(
        [*_pinned(sipp_cpu, nice, realtime=False), "sipp", "-sf", str(scenario), "-i", "127.0.0.1",
         "-p", "0", "-mp", str(_free_port() & ~1), "-s", "1000", "-m", str(calls),
         "-l", str(calls), "-r", str(rate),
         "-nostdin", "-timeout", f"{int(calls / rate + hold_s + 60)}s", "-timeout_error",
         f"127.0.0.1:{server.port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=workdir,
    )  # fmt: skip
    sipp_ps = psutil.Process(sipp.pid)
    switches_start = server.ps.num_ctx_switches()
    plateau: dict[str, Any] = {}
    sipp_cpu_s = 0.0
    kernel_legs = thinned_legs = 0
    while sipp.poll() is None:
        time.sleep(0.25)
        try:
            times = sipp_ps.cpu_times()
            sipp_cpu_now = times.user + times.system
        except psutil.NoSuchProcess:
            sipp_cpu_now = sipp_cpu_s
        sipp_cpu_s = max(sipp_cpu_s, sipp_cpu_now)
        stats = server.ask("stats")
        kernel_legs = max(kernel_legs, int(stats.get("kernel_relayed_legs", 0)))
        thinned_legs = max(thinned_legs, int(stats.get("thinned_legs", 0)))
        if not plateau and stats["calls"] >= calls:
            plateau = {"t": time.monotonic(), "cpu": server.cpu_seconds(),
                       "split": server.cpu_split(), "sipp": sipp_cpu_now,
                       "rss": server.rss()}  # fmt: skip
        elif plateau and "t_end" not in plateau and stats["calls"] < calls:
            plateau.update(t_end=time.monotonic(), cpu_end=server.cpu_seconds(),
                           split_end=server.cpu_split(), sipp_end=sipp_cpu_now)  # fmt: skip
    output = sipp.stdout.read() if sipp.stdout else ""
    time.sleep(1.0)
    stats = server.ask("stats")
    switches_end = server.ps.num_ctx_switches()
    ok, failed = _sipp_counts(output)
    result: dict[str, Any] = {
        "calls": calls, "completed": ok, "failed": failed, "heard_greeting": stats["greetings"],
        **({key: stats[key] for key in ("digits", "bridged", "bridge_failed", "news_sent",
                                        "announcements", "prompts_failed", "prompt_failures",
                                        "prompts_after_hangup", "agent_refusals",
                                        "bridge_ended_first")} if mix else {}),
        "media_gc_pause_max_ms": round(stats.get("media_gc_pause_max_ms", 0.0), 2),

        "jitter_p50_ms": round(stats["rtp_jitter_p50_ms"], 2),
        "jitter_p99_ms": round(stats["rtp_jitter_p99_ms"], 2),
        "jitter_max_ms": round(stats["rtp_jitter_max_ms"], 2),
        "packets": int(stats["rtp_packets_timed"]),
        "kernel_relayed_legs_max": kernel_legs,
        "thinned_legs_max": thinned_legs,
        "kernel_relayed_packets": int(stats.get("kernel_relayed_packets", 0)),
        "server_involuntary_switches": switches_end.involuntary - switches_start.involuntary,
    }  # fmt: skip
    if plateau and "t_end" in plateau:
        seconds = plateau["t_end"] - plateau["t"]
        share = (plateau["cpu_end"] - plateau["cpu"]) / seconds if seconds > 0 else 0.0
        sipp_share = (plateau["sipp_end"] - plateau["sipp"]) / seconds if seconds > 0 else 0.0
        result.update(
            plateau_s=round(seconds, 1),
            cpu_cores=round(share, 3),
            cpu_ms_per_call_s=round(1000 * share / calls, 3),
            calls_per_core=int(calls / share) if share else None,
            sipp_cpu_cores=round(sipp_share, 3),
            cpu_cores_by_role={
                role: round((plateau["split_end"][role] - used) / seconds, 3) if seconds else 0.0
                for role, used in plateau["split"].items()
            },
            rss_kib_per_call=round((plateau["rss"] - rss_idle) / 1024 / calls, 1),
        )
    result["passed"] = (
        ok == calls and failed == 0 and stats["greetings"] == calls
        and result["jitter_p99_ms"] < 5.0
    )  # fmt: skip
    if mix:  # every caller's digit heard, every second call bridged, no prompt failed
        result["passed"] = result["passed"] and (
            stats["digits"] == calls and stats["bridged"] == calls // 2
            and stats["bridge_failed"] == 0 and stats["prompts_failed"] == 0
        )  # fmt: skip
    if ok != calls:
        result["sipp_tail"] = output[-1500:]
    return result


def _row(r: dict[str, Any]) -> str:
    ceiling = r.get("ceiling", {})
    ratio = r.get("share_of_ceiling")
    cells = [
        f"{r['calls']:,}", f"{r['attempt']}{' (SRTP)' if r.get('srtp') else ''}",
        str(r.get("kernel_relay", "")), str(r.get("media_slice_us", "")),
        str(r.get("kernel_relayed_legs_max", "")),
        f"{r['load_before']} / {r['load_after']}",
        f"{r['completed']}/{r['failed']}", str(r["heard_greeting"]),
        f"{r['jitter_p50_ms']} / **{r['jitter_p99_ms']}** / {r['jitter_max_ms']}",
        str(r.get("cpu_cores", "")),
        f"{r['calls_per_core']:,}" if r.get("calls_per_core") else "",
        str(r.get("sipp_cpu_cores", "")),
        f"{ceiling.get('jitter_p99_ms', '')} / {ceiling.get('jitter_max_ms', '')}",
        f"{ceiling['streams_per_core']:,}" if ceiling.get("streams_per_core") else "",
        f"{ratio:.0%}" if ratio is not None else "",
        "pass" if r["passed"] else "fail",
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


TABLE_HEAD = (
    "| N calls | attempt | kernel relay | worker's slice (µs) | legs in the kernel "
    "| load 1m before / after "
    "| completed/failed | heard greeting "
    "| jitter p50 / p99 / max (ms) | server CPU (cores) | calls per core | sipp CPU (cores) "
    "| ceiling p99 / max (ms) | ceiling streams per core | share of ceiling | verdict |\n"
    "|---:|---:|---|---:|---:|---|---|---:|---|---:|---:|---:|---|---:|---:|---|"
)


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
    parser.add_argument("--calls", type=int, nargs="+", default=[500, 1000])
    parser.add_argument("--rate", type=float, default=50.0, help="new calls per second")
    parser.add_argument("--hold", type=float, default=0.0,
                        help="seconds per call (default: ramp-up + greeting + 5 s)")  # fmt: skip
    parser.add_argument("--attempts", type=int, default=2,
                        help="runs per level; every one is reported (at least two: the "
                        "machine is shared)")  # fmt: skip
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--sipp-cpu", type=int, default=1)
    parser.add_argument("--ceiling-s", type=float, default=10.0,
                        help="seconds of the raw-UDP ceiling per attempt (0: skip it)")  # fmt: skip
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                        help="the server's event loop")  # fmt: skip
    parser.add_argument(
        "--profile",
        action="store_true",
        help="stall profile per attempt (bench/stall_profile.py; asyncio loop)",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of server, ceiling and sipp alike (negative: root)",
    )
    parser.add_argument(
        "--rt",
        type=int,
        default=0,
        help="SCHED_FIFO priority of the server and of the ceiling (0: normal class)",
    )
    parser.add_argument("--media", choices=("inline", "process", "thread"), default="process",
                        help="where the RTP pacer runs (SipSettings.media_mode)")  # fmt: skip
    parser.add_argument("--media-loop", choices=("asyncio", "uvloop"), default="uvloop",
                        help="the media worker's event loop (SipSettings.media_loop)")  # fmt: skip
    parser.add_argument("--render-workers", type=int, default=1,
                        help="prompt render worker processes (0: a thread)")  # fmt: skip
    parser.add_argument("--render-niceness", type=int, default=10,
                        help="the render workers' niceness (product default: 10)")  # fmt: skip
    parser.add_argument("--mix", action="store_true",
                        help="mixed load: DTMF barge-in, every 2nd call bridged to an agent "
                        "(sipp UAS on the sipp core, echoing RTP), the engine's CPU per call, "
                        "--news new prompts per second")  # fmt: skip
    parser.add_argument(
        "--news",
        type=float,
        default=0.0,
        help="new prompts rendered per second (default 20 with --mix)",
    )
    parser.add_argument("--agent-uri", default="", help=argparse.SUPPRESS)
    parser.add_argument("--agents", choices=("echo", "talk"), default="echo",
                        help="agents' phones (--mix): echo what they hear, or talk (each "
                        "sends its own stream: bench/rtp_talker.py)")  # fmt: skip
    parser.add_argument("--callers", choices=("pcap", "talk"), default="pcap",
                        help="callers' phones (--mix): sipp sending its pcap digit only, or "
                        "talking for the whole call and pressing 1 in their own stream "
                        "(bench/rtp_talker.py --digit-after 3)")  # fmt: skip
    parser.add_argument("--kernel-relay", nargs="+", choices=("auto", "off"), default=["auto"],
                        help="SipSettings.kernel_relay; several: one server each, in turn, "
                        "same run")  # fmt: skip
    parser.add_argument("--media-slice-us", type=int, nargs="+", default=[100],
                        help="SipSettings.media_slice_us (0: the kernel's default slice); "
                        "several: one server each, in turn, same run")  # fmt: skip
    parser.add_argument("--thin", nargs="+", choices=("on", "off"), default=["on"],
                        help="SipSettings.thin_unheard_audio; several: one server each, in "
                        "turn, same run")  # fmt: skip
    parser.add_argument("--no-srtp", action="store_true",
                        help="run each level with plain RTP only (no SRTP pass)")  # fmt: skip
    parser.add_argument("--tls-handshakes", type=int, default=200,
                        help="fresh TLS connections to time per TLS version (0: none)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="append every attempt as a JSON line")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(_serve(args))
        else:
            asyncio.run(_serve(args))
        return
    global _RT_PRIORITY
    _RT_PRIORITY = args.rt
    SINK.bind(("127.0.0.1", 0))
    SINK.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    if args.mix and not args.news:
        args.news = 20.0
    agents: list[subprocess.Popen[bytes]] = []
    if args.mix:
        agents, args.agent_uri = start_agents(args.sipp_cpu, args.nice,
                                              Path(tempfile.gettempdir()), args.agents)  # fmt: skip
    args.callers_port = 0
    if args.mix and args.callers == "talk":
        args.callers_port = _free_port() & ~1
        agents.append(subprocess.Popen(
            [*_pinned(args.sipp_cpu, args.nice, realtime=False), sys.executable,
             str(BENCH / "rtp_talker.py"), "--port", str(args.callers_port),
             "--digit-after", "3"],
            stdout=subprocess.DEVNULL,
        ))  # fmt: skip
    rows = []
    for kernel_relay in args.kernel_relay:
        for slice_us in args.media_slice_us:
            for thin in args.thin:
                rows += _run_server(args, kernel_relay, slice_us, thin)
    for process in agents:
        process.terminate()
        process.wait(10)
    passing = [r["calls"] for r in rows if r["passed"] and not r["srtp"]]
    passing_srtp = [r["calls"] for r in rows if r["passed"] and r["srtp"]]
    print(
        f"\nmedia: {args.media} ({args.media_loop}); "
        f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total // 2**30} GiB; server on CPU "
        f"{args.server_cpu}, sipp on CPU {args.sipp_cpu}; niceness {args.nice}; "
        f"SCHED_FIFO {args.rt or 'no'}; agents: {args.agents if args.mix else 'none'}; "
        f"callers: {args.callers if args.mix else 'sipp'}\n"
    )
    print(TABLE_HEAD)
    for row in rows:
        print(_row(row))
    print(f"\nlargest N passing in some attempt: {max(passing) if passing else None}"
          f" (with SRTP: {max(passing_srtp) if passing_srtp else None})")  # fmt: skip


def _run_server(
    args: argparse.Namespace, kernel_relay: str, slice_us: int, thin: str
) -> list[dict[str, Any]]:
    """Every level and attempt against one server (`kernel_relay`, the worker's slice,
    thinning)."""
    server = _Server(args, kernel_relay, slice_us, thin)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for calls in args.calls:
                hold = args.hold or (calls / args.rate + server.greeting_s + 5.0)
                for srtp in (False,) if args.no_srtp else (False, True):
                    server.ask("srtp on" if srtp else "srtp off")
                    for attempt in range(1, args.attempts + 1):
                        load_before = round(os.getloadavg()[0], 2)
                        ceiling = (
                            run_ceiling(args.server_cpu, calls, args.ceiling_s, args.nice)
                            if args.ceiling_s else {}
                        )  # fmt: skip
                        result = run_level(
                            server,
                            calls,
                            args.rate,
                            hold,
                            Path(tmp),
                            args.sipp_cpu,
                            args.nice,
                            args.mix,
                            args.callers_port,
                        )
                        result.update(attempt=attempt, load_before=load_before,
                                      load_after=round(os.getloadavg()[0], 2), ceiling=ceiling,
                                      loop=server.loop, nice=args.nice, rt=args.rt,
                                      mix=args.mix, news_per_s=args.news,
                                      render_workers=args.render_workers, srtp=srtp,
                                      render_niceness=args.render_niceness,
                                      media=args.media, media_loop=args.media_loop,
                                      kernel_relay=kernel_relay, agents=args.agents,
                                      callers=args.callers if args.mix else None,
                                      media_slice_us=slice_us, thin=thin)  # fmt: skip
                        if ceiling.get("streams_per_core") and result.get("calls_per_core"):
                            result["share_of_ceiling"] = round(
                                result["calls_per_core"] / ceiling["streams_per_core"], 3
                            )
                        if args.profile:
                            result["profile"] = server.ask("profile")
                        print(json.dumps(result), flush=True)
                        if args.out:
                            with args.out.open("a") as out:
                                out.write(json.dumps(result) + "\n")
                        rows.append(result)
            handshakes = [
                tls_handshakes(server, args.tls_handshakes, version)
                for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
                if args.tls_handshakes > 0
            ]
            for handshake in handshakes:
                print(json.dumps(handshake), flush=True)
    finally:
        server.close()
    return rows


if __name__ == "__main__":
    main()
