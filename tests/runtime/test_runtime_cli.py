"""`dipflow call` (in-process, JSON) and `dipflow demo` (a real process, stopped by SIGINT)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from dipflow.cli.main import app
from dipflow.emulator.demo_data import demo_caller


def test_call_json_known_caller_answered_by_agent() -> None:
    ada = demo_caller("ada")
    result = CliRunner().invoke(
        app, ["call", "--ani", ada.ani, "--press", "1", "--agent-answer", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["emulator"].startswith("http://127.0.0.1:")
    assert report["global_error"] is False
    texts = [entry["text"] for entry in report["transcript"]]
    assert any(
        "Ada" in text
        for entry, text in zip(report["transcript"], texts, strict=True)
        if entry["who"] == "ivr"
    )
    responses = [e for e in report["transcript"] if e["kind"] == "response"]
    assert responses and all(e["detail"]["status"] == 200 for e in responses)
    assert any(e["kind"] == "digits" and e["detail"]["digits"] == "1" for e in report["transcript"])
    (pop,) = report["screen_pops"]
    assert ada.latest_case_id is not None and ada.latest_case_id in pop["url"]
    assert pop["agent_id"] == report["agent_id"]


def test_call_table_output_names_the_emulator() -> None:
    result = CliRunner().invoke(app, ["call", "--ani", demo_caller("unknown").ani, "--hold", "0.1"])
    assert result.exit_code == 0, result.output
    assert "emulator" in result.stdout
    assert "queue" in result.stdout or "hangs up" in result.stdout


def test_call_with_missing_flow_file_is_bad_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["call", "--ani", "+14155550123", "--flow", str(tmp_path / "nope.yaml")]
    )
    assert result.exit_code == 2
    assert "nope.yaml" in result.output


def test_call_exit_status_reports_the_global_error_handler(tmp_path: Path) -> None:
    flow = tmp_path / "broken.yaml"
    flow.write_text(
        "name: broken\n"
        "start: start\n"
        "activities:\n"
        "  start: {kind: start, next: odd}\n"
        "  odd: {kind: unsupported, original_kind: Mystery, on: {error: bye}}\n"
        "  bye: {kind: disconnect_contact}\n",
        encoding="utf-8",
    )
    config = tmp_path / "dipflow.yaml"
    config.write_text(
        "flows: [{dnis: '*', flow: broken.yaml}]\n"
        "center: {queues: [{name: Support, teams: [support]}]}\n"
        "media: {tts: silent}\n",
        encoding="utf-8",
    )
    ok = CliRunner().invoke(app, ["call", "--ani", "+1", "--config", str(config), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["global_error"] is False

    flow.write_text(flow.read_text().replace("on: {error: bye}", "on: {}"), encoding="utf-8")
    failed = CliRunner().invoke(app, ["call", "--ani", "+1", "--config", str(config), "--json"])
    assert failed.exit_code == 1, failed.output
    assert json.loads(failed.stdout)["global_error"] is True


def free_port() -> int:
    """A loopback port free for both TCP and UDP (SIP listens on both)."""
    while True:
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port: int = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def metrics_status(process: subprocess.Popen[str], port: int) -> int | None:
    """The status of the server's /metrics once it answers (None if it never does, or
    exits, within a minute)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).status_code
        except httpx.TransportError:
            time.sleep(0.2)
    return None


def sip_options(port: int) -> str:
    """Send a SIP OPTIONS over UDP and return the status line of the answer.

    Resent every second, as a UDP client does (RFC 3261 timer E): the web app answers
    before the SIP listener has bound its port, and a datagram sent then is lost."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        sock.settimeout(1)
        request = (
            f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-runtime-test\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:test@127.0.0.1:{local}>;tag=t1\r\n"
            f"To: <sip:127.0.0.1:{port}>\r\n"
            "Call-ID: runtime-demo-test\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        for _ in range(15):
            sock.sendto(request.encode(), ("127.0.0.1", port))
            try:
                data, _ = sock.recvfrom(65535)
            except TimeoutError:
                continue
            return data.decode(errors="replace").split("\r\n", 1)[0]
        raise TimeoutError(f"no answer to OPTIONS on port {port} in 15 s")


@pytest.mark.slow
def test_demo_serves_http_and_sip_and_stops_cleanly_on_sigint() -> None:
    port, sip_port = free_port(), free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dipflow",
            "demo",
            "--port",
            str(port),
            "--sip-port",
            str(sip_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        assert metrics_status(process, port) == 200, f"demo did not answer (exit {process.poll()})"
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "dipflow_active_calls" in metrics
        # The demo hands its CRM's callers to the browser phone's picker.
        phone = httpx.get(f"http://127.0.0.1:{port}/phone", timeout=5).text
        assert demo_caller("ada").ani in phone and "Ada Lovelace" in phone
        assert sip_options(sip_port).startswith("SIP/2.0 200")
        # The SIP channel's counters are on the same /metrics page (issue 12).
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"not SIP\r\n\r\n", ("127.0.0.1", sip_port))
        dropped = 'dipflow_sip_dropped_messages_total{reason="unparseable"} 1.0'
        for _ in range(50):
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            if dropped in metrics:
                break
            time.sleep(0.1)
        assert dropped in metrics, metrics
        assert 'dipflow_sip_calls_total{direction="inbound"} 0.0' in metrics
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/desktop" in output
    assert "agent1" in output
    assert f"sip:127.0.0.1:{sip_port}" in output
    assert "Traceback" not in output


SERVE_CONFIG = """\
flows:
  - dnis: "*"
    flow: ms-dynamics-data-dip
connectors:
  - name: dynamics
    kind: dataverse
    base_url: http://127.0.0.1:9
center:
  queues: [{name: CustomerCare, teams: [support]}]
  agents: [{agent_id: a1, name: Ann, teams: [support]}]
media: {tts: silent}
"""


@pytest.mark.slow
def test_serve_runs_a_config_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "dipflow.yaml"
    config.write_text(SERVE_CONFIG, encoding="utf-8")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dipflow", "serve", "--config", str(config), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    try:
        assert metrics_status(process, port) == 200, f"serve did not answer (exit {process.poll()})"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/supervisor" in output


def test_serve_reports_config_errors_with_their_place(tmp_path: Path) -> None:
    config = tmp_path / "dipflow.yaml"
    config.write_text(SERVE_CONFIG.replace("tts: silent", "tts: loud"), encoding="utf-8")
    result = CliRunner().invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert f"{config}:11:14: media.tts: Input should be 'espeak' or 'silent'" in result.output


def test_serve_refuses_a_flow_whose_connector_is_not_configured(tmp_path: Path) -> None:
    config = tmp_path / "dipflow.yaml"
    config.write_text(SERVE_CONFIG.replace("name: dynamics", "name: crm"), encoding="utf-8")
    result = CliRunner().invoke(app, ["serve", "--config", str(config), "--port", "0"])
    assert result.exit_code == 2
    assert "dynamics" in result.output


def test_serve_refuses_an_organisation_setting_the_flow_does_not_declare(tmp_path: Path) -> None:
    config = tmp_path / "dipflow.yaml"
    bound = "    flow: ms-dynamics-data-dip\n"
    config.write_text(
        SERVE_CONFIG.replace(bound, bound + "    variables: {NoSuchSetting: 1}\n"),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["serve", "--config", str(config), "--port", "0"])
    assert result.exit_code == 2, result.output
    assert "cannot start" in result.output and "NoSuchSetting" in result.output
    assert "Traceback" not in result.output
