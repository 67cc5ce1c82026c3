"""Data-dip benchmark: time-to-data and phone lookup latency against the emulator.

1. Time-to-data (ANI in -> caller's name and latest case known), in the same run,
   for the one-round-trip `$expand` lookup and for two sequential requests (contact,
   then the customer's latest case: the Webex template's shape), at each emulator
   latency (`--latencies 0,100`, milliseconds added per request).
2. Silence before the greeting (`--silence-latencies 0,100,300`): the gap between the
   end of the welcome prompt and the start of the personalised greeting, for the
   bundled flow (lookup started at call arrival, joined after the prompt) against the
   sequential flow it replaced (welcome prompt, then the lookup), in the same run.
   Each call's lookup takes a dip time measured for real against the emulator at that
   latency (connector, HTTP, loopback); prompt lengths are the simulator's speech
   model (about 15 characters a second), so the gap is computed in simulated time.
3. Phone lookup latency with `--contacts` contacts seeded into a SQLite file
   (default 1,000,000; seeding takes minutes): p50/p99 of the exact-match lookup the
   flow makes, over HTTP through the connector, and p99 of the store query alone.

    .venv/bin/python bench/dip.py                      # everything
    .venv/bin/python bench/dip.py --contacts 100000    # a quicker scale run
    .venv/bin/python bench/dip.py --contacts 0         # time-to-data only
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from dipflow.connectors import ConnectorConfig, Connectors
from dipflow.connectors.dynamics import Dataverse, MatchKind
from dipflow.emulator.demo_data import demo_caller
from dipflow.emulator.odata.options import parse_options
from dipflow.emulator.schema import CONTACTS
from dipflow.emulator.seed import seed_database
from dipflow.emulator.settings import EmulatorSettings, SeedKind
from dipflow.emulator.store import Store
from dipflow.emulator.testing import RunningEmulator, running_emulator
from dipflow.engine.commands import Play
from dipflow.flow.bundled import bundled_path
from dipflow.flow.dynamics_filters import phone_variants
from dipflow.flow.loader import load_flow
from dipflow.flow.model import Flow, HttpJoinActivity, HttpRequestActivity, HttpStartActivity
from dipflow.testing import HttpReply, hang_up, run_flow
from dipflow.testing.scripts import speech_seconds

SECRET_ENV = "DIPFLOW_BENCH_CRM_SECRET"
ADA = "+14155550123"
E164_ONLY: dict[str, Any] = {"e164_column": "new_phonee164", "e164_only": True}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def connectors_for(emu: RunningEmulator, **phone: Any) -> Connectors:
    config = ConnectorConfig.model_validate(
        {
            "name": "crm",
            "kind": "dataverse",
            "base_url": emu.base_url,
            "auth": {
                "type": "oauth2_client_credentials",
                "token_url": emu.token_url,
                "client_id": emu.client_id,
                "client_secret_env": SECRET_ENV,
            },
            "phone": phone,
            "breaker": {"enabled": False},
        }
    )
    return Connectors([config], environ={SECRET_ENV: emu.client_secret})


async def time_to_data(
    emu: RunningEmulator, latencies: list[float], calls: int
) -> list[dict[str, float]]:
    rows = []
    async with connectors_for(emu) as connectors:
        dataverse = Dataverse(connectors, "crm", timeout_s=10.0)
        await dataverse.lookup_caller(ADA)  # token and connection warm-up
        for latency in latencies:
            emu.set_faults(latency_ms=latency)
            samples: dict[bool, list[float]] = {True: [], False: []}
            for i in range(calls * 2):
                expand = i % 2 == 0  # interleaved: both forms see the same conditions
                started = time.perf_counter()
                match = await dataverse.lookup_caller(ADA, expand=expand)
                samples[expand].append((time.perf_counter() - started) * 1000)
                assert match.kind is MatchKind.UNIQUE and match.latest_case is not None
            emu.clear_faults()
            one, two = samples[True], samples[False]
            rows.append(
                {
                    "latency": latency,
                    "one_p50": statistics.median(one),
                    "one_p95": percentile(one, 95),
                    "two_p50": statistics.median(two),
                    "two_p95": percentile(two, 95),
                    "ratio": statistics.median(one) / statistics.median(two),
                }
            )
    return rows


async def measured_dips(emu: RunningEmulator, latency: float, calls: int) -> list[float]:
    """Real dip times (s) at `latency`: the flow's one-request lookup through the connector."""
    async with connectors_for(emu) as connectors:
        dataverse = Dataverse(connectors, "crm", timeout_s=10.0)
        await dataverse.lookup_caller(ADA)  # token and connection warm-up
        emu.set_faults(latency_ms=latency)
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            await dataverse.lookup_caller(ADA)
            samples.append(time.perf_counter() - started)
        emu.clear_faults()
    return samples


def sequential_variant(flow: Flow) -> Flow:
    """The bundled flow as it was before `http_start`: welcome prompt, then the lookup."""
    activities = dict(flow.activities)
    start = activities["GetCustomerInfo"]
    join = activities["WaitCustomerInfo"]
    assert isinstance(start, HttpStartActivity) and isinstance(join, HttpJoinActivity)
    request = HttpRequestActivity.model_validate(
        {
            **start.model_dump(exclude={"kind", "on", "next"}),
            "kind": "http_request",
            "on": join.wiring(),
        }
    )
    trim = activities["TrimANI"]
    greeting = activities["Greeting"]
    activities["TrimANI"] = trim.model_copy(update={"next": "Greeting", "on": {}})
    activities["Greeting"] = greeting.model_copy(
        update={"on": {"out": "GetCustomerInfo", "error": "GetCustomerInfo"}}
    )
    activities["GetCustomerInfo"] = request
    del activities["WaitCustomerInfo"]
    return flow.model_copy(update={"activities": activities})


def greeting_gap(flow: Flow, dip_s: float) -> float:
    """Seconds of silence between the welcome prompt's end and the greeting's start."""
    caller = demo_caller("ada")
    reply = HttpReply(
        json={
            "value": [
                {
                    "contactid": caller.customer_id,
                    "fullname": caller.expected_fullname,
                    "incident_customer_contacts": [],
                    "contact_as_primary_contact": [],
                    "parentcustomerid_account": None,
                }
            ]
        },
        delay_s=dip_s,
    )
    result = run_flow(
        flow, ani=caller.ani, http={"GetCustomerInfo": reply}, caller=[hang_up(after=60)]
    )
    plays = [(at, c) for at, c in result.timeline if isinstance(c, Play)]
    (welcome_at, welcome), (greeting_at, _) = plays[0], plays[1]
    return max(0.0, greeting_at - (welcome_at + speech_seconds(welcome.text)))


def silence_rows(latencies: list[float], calls: int) -> list[dict[str, float]]:
    parallel = load_flow(bundled_path("ms-dynamics-data-dip"))
    sequential = sequential_variant(parallel)
    rows = []
    with running_emulator() as emu:
        for latency in latencies:
            dips = asyncio.run(measured_dips(emu, latency, calls))
            new = [greeting_gap(parallel, d) * 1000 for d in dips]
            old = [greeting_gap(sequential, d) * 1000 for d in dips]
            rows.append(
                {
                    "latency": latency,
                    "dip_p50": statistics.median(dips) * 1000,
                    "dip_p99": percentile([d * 1000 for d in dips], 99),
                    "old_p50": statistics.median(old),
                    "old_p99": percentile(old, 99),
                    "new_p50": statistics.median(new),
                    "new_p99": percentile(new, 99),
                }
            )
    return rows


def sample_anis(db: Path, count: int) -> tuple[list[str], int]:
    """`count` stored E.164 numbers drawn at random, and how many draws were skipped
    because the stored number is not a valid phone number (a caller cannot have it)."""
    conn = sqlite3.connect(str(db))
    try:
        (max_rowid,) = conn.execute("SELECT MAX(rowid) FROM contacts").fetchone()
        rng = random.Random(7)
        anis: list[str] = []
        invalid = 0
        while len(anis) < count:
            row = conn.execute(
                "SELECT new_phonee164 FROM contacts WHERE rowid = ?", (rng.randint(1, max_rowid),)
            ).fetchone()
            if row and row[0]:
                if phone_variants(row[0]):
                    anis.append(row[0])
                else:
                    invalid += 1
        return anis, invalid
    finally:
        conn.close()


async def lookup_latency(emu: RunningEmulator, anis: list[str], **phone: Any) -> dict[str, Any]:
    async with connectors_for(emu, **phone) as connectors:
        dataverse = Dataverse(connectors, "crm", timeout_s=10.0)
        await dataverse.lookup_caller(anis[0])
        samples = []
        found = 0
        for ani in anis:
            started = time.perf_counter()
            match = await dataverse.lookup_caller(ani, expand=True)
            samples.append((time.perf_counter() - started) * 1000)
            found += match.kind is not MatchKind.NONE
    return {
        "p50": statistics.median(samples),
        "p99": percentile(samples, 99),
        "max": max(samples),
        "found": found,
        "n": len(samples),
    }


def store_latency(db: Path, anis: list[str], **phone: Any) -> tuple[dict[str, Any], list[str]]:
    """The emulator's own work for the same lookup (OData parse + SQLite), no HTTP."""
    config = ConnectorConfig.model_validate(
        {"name": "crm", "kind": "dataverse", "base_url": "http://127.0.0.1:9", "phone": phone}
    )
    dataverse = Dataverse(Connectors([config], environ={}), "crm")
    store = Store(str(db))
    try:
        plan = store.explain(
            CONTACTS, parse_options(dataverse.caller_query(anis[0], expand=True), CONTACTS)
        )
        samples = []
        cpu = []
        for ani in anis:
            started, started_cpu = time.perf_counter(), time.thread_time()
            options = parse_options(dataverse.caller_query(ani, expand=True), CONTACTS)
            store.query(CONTACTS, options)
            samples.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - started_cpu) * 1000)
    finally:
        store.close()
    result = {
        "p50": statistics.median(samples),
        "p99": percentile(samples, 99),
        "max": max(samples),
        "cpu_p50": statistics.median(cpu),
        "cpu_p99": percentile(cpu, 99),
    }
    return result, plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="lookups per form and latency")
    parser.add_argument("--latencies", default="0,100", help="emulator latency (ms), comma list")
    parser.add_argument(
        "--silence-latencies", default="0,100,300", help="latencies (ms) for the silence run"
    )
    parser.add_argument("--silence-calls", type=int, default=200, help="calls per latency")
    parser.add_argument("--contacts", type=int, default=1_000_000, help="0 skips the scale run")
    parser.add_argument("--lookups", type=int, default=1000, help="lookups in the scale run")
    parser.add_argument("--db", type=Path, help="reuse (or create) this seeded SQLite file")
    args = parser.parse_args()
    console = Console(width=150)
    console.print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )

    latencies = [float(x) for x in args.latencies.split(",") if x.strip()]
    rows = []
    if latencies:
        with running_emulator() as emu:
            rows = asyncio.run(time_to_data(emu, latencies, args.calls))
    if rows:
        table = Table(
            title=f"Time to data (ANI -> name + latest case), {args.calls} calls each, ms"
        )
        for column in (
            "emulator latency",
            "one trip p50",
            "p95",
            "two requests p50",
            "p95",
            "ratio",
        ):
            table.add_column(column, justify="right")
        for r in rows:
            table.add_row(
                f"{r['latency']:.0f}",
                f"{r['one_p50']:.1f}",
                f"{r['one_p95']:.1f}",
                f"{r['two_p50']:.1f}",
                f"{r['two_p95']:.1f}",
                f"{r['ratio']:.2f}x",
            )
        console.print(table)

    silence = [float(x) for x in args.silence_latencies.split(",") if x.strip()]
    if silence:
        welcome = speech_seconds("Welcome to customer care.") * 1000
        table = Table(
            title="Silence between the welcome prompt and the greeting, ms "
            f"({args.silence_calls} calls each; welcome prompt {welcome:.0f} ms)"
        )
        for column in (
            "emulator latency",
            "dip p50",
            "dip p99",
            "sequential p50",
            "p99",
            "lookup under the prompt p50",
            "p99",
        ):
            table.add_column(column, justify="right")
        for r in silence_rows(silence, args.silence_calls):
            table.add_row(
                *(
                    f"{r[k]:.0f}" if k == "latency" else f"{r[k]:.1f}"
                    for k in (
                        "latency",
                        "dip_p50",
                        "dip_p99",
                        "old_p50",
                        "old_p99",
                        "new_p50",
                        "new_p99",
                    )
                )
            )
        console.print(table)

    if args.contacts <= 0:
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "crm.sqlite"
        if not db.exists():
            started = time.perf_counter()
            seed_database(db, contacts=args.contacts)
            console.print(
                f"seeded {args.contacts:,} contacts in {time.perf_counter() - started:.0f}s"
            )
        anis, invalid = sample_anis(db, args.lookups)
        console.print(f"sampled {len(anis)} stored numbers ({invalid} invalid ones skipped)")
        settings = EmulatorSettings(db=str(db), seed=SeedKind.NONE)
        with running_emulator(settings=settings) as emu:
            plain = asyncio.run(lookup_latency(emu, anis))
            e164 = asyncio.run(lookup_latency(emu, anis, e164_column="new_phonee164"))
            only = asyncio.run(lookup_latency(emu, anis, **E164_ONLY))
        store_plain, plan = store_latency(db, anis)
        store_e164, _ = store_latency(db, anis, e164_column="new_phonee164")
        store_only, _ = store_latency(db, anis, **E164_ONLY)
    console.print("query plan: " + "; ".join(plan[:3]) + f" ... ({len(plan)} steps)")
    table = Table(title=f"Phone lookup + latest case with {args.contacts:,} contacts, ms")
    for column in ("lookup", "where", "p50", "p99", "max", "matched", "CPU p50", "CPU p99"):
        table.add_column(column, justify="right")
    for name, where, r in (
        ("variants x 3 columns", "HTTP, connector", plain),
        ("+ E.164 column", "HTTP, connector", e164),
        ("E.164 column only", "HTTP, connector", only),
        ("variants x 3 columns", "emulator store", store_plain),
        ("+ E.164 column", "emulator store", store_e164),
        ("E.164 column only", "emulator store", store_only),
    ):
        matched = f"{r['found']}/{r['n']}" if "found" in r else ""
        cpu = [f"{r[k]:.2f}" if k in r else "" for k in ("cpu_p50", "cpu_p99")]
        table.add_row(
            name, where, f"{r['p50']:.2f}", f"{r['p99']:.2f}", f"{r['max']:.2f}", matched, *cpu
        )
    console.print(table)
    console.print(f"load average after the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
