"""Measure caller-lookup latency against a seeded database.

    dipflow crm seed --contacts 1000000 --db /tmp/crm.sqlite
    python -m dipflow.emulator.bench_lookup --db /tmp/crm.sqlite --lookups 2000

Two numbers: the store alone (parse + compile + SQLite, what the index design
decides) and end to end over loopback HTTP with a bearer token (what a
connector sees). The query is the connector's shape: an OR of `eq` across the
four phone columns, `$top=2`, with the latest case expanded.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import subprocess
import sys
import time

import httpx

from dipflow.emulator.inprocess import free_port
from dipflow.emulator.odata.options import parse_options
from dipflow.emulator.schema import CONTACTS, PHONE_COLUMNS
from dipflow.emulator.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT
from dipflow.emulator.store import Store


def _phones(db: str, n: int, rng: random.Random) -> list[str]:
    with sqlite3.connect(db) as conn:
        high = conn.execute("SELECT MAX(rowid) FROM contacts").fetchone()[0]
        phones: list[str] = []
        while len(phones) < n:
            row = conn.execute(
                "SELECT telephone1, mobilephone, telephone2 FROM contacts WHERE rowid = ?",
                (rng.randrange(1, high + 1),),
            ).fetchone()
            present = [p for p in row or () if p]
            if present:
                phones.append(rng.choice(present))
    # a quarter of the lookups are for numbers nobody has (unknown callers)
    return [p if rng.random() < 0.75 else f"+1 999 555 {rng.randrange(10000):04d}" for p in phones]


def _params(phone: str) -> dict[str, str]:
    literal = phone.replace("'", "''")
    return {
        "$select": "fullname,contactid",
        "$filter": " or ".join(f"{c} eq '{literal}'" for c in PHONE_COLUMNS),
        "$top": "2",
        "$expand": "incident_customer_contacts($select=title,ticketnumber,createdon;"
        "$orderby=createdon desc;$top=1)",
    }


def _summary(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    pct = statistics.quantiles(ordered, n=100)
    return (
        f"{label}: n={len(ordered)} p50={pct[49]:.3f} ms p95={pct[94]:.3f} ms "
        f"p99={pct[98]:.3f} ms max={ordered[-1]:.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    phones = _phones(args.db, args.lookups, rng)

    store = Store(args.db)
    store_ms: list[float] = []
    cpu_ms: list[float] = []
    for phone in phones:
        started, cpu_started = time.perf_counter(), time.thread_time()
        store.query(CONTACTS, parse_options(_params(phone), CONTACTS))
        store_ms.append((time.perf_counter() - started) * 1000)
        cpu_ms.append((time.thread_time() - cpu_started) * 1000)
    store.close()
    print(_summary("store (parse+SQL), wall", store_ms))
    # On a shared machine wall-clock tails include time the process was not running.
    print(_summary("store (parse+SQL), CPU ", cpu_ms))

    port = free_port()
    # The server runs in its own process, as in production: a client thread in the
    # server's process would fight it for the GIL and inflate the numbers.
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dipflow",
            "crm",
            "serve",
            "--db",
            args.db,
            "--seed",
            "none",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base)
        token = httpx.post(
            f"{base}/{DEFAULT_TENANT}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "scope": f"{base}/.default",
            },
        ).json()["access_token"]
        http_ms: list[float] = []
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"{base}/api/data/v9.2/", headers=headers) as client:
            for phone in phones:
                started = time.perf_counter()
                response = client.get("contacts", params=_params(phone))
                http_ms.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
    finally:
        server.terminate()
        server.wait(10)
    print(_summary("HTTP end to end", http_ms))


def _wait_for(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/_emulator/stats", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the emulator did not start")


if __name__ == "__main__":
    main()
