"""Reports benchmark (issue 14): payback and cohort-curve latency on a large workspace, and how
soon a posted event shows in a report while ingest runs flat out, on SQLite.

The workspace: ``--scale`` x 1,000,000 users and about 10 events a user (10,000,000 at
scale 1) made by bench/people_gen.py: users starting over two years, each installing from 1-3
anonymous ids attributed to one of 200 campaigns (with channel, ad set, creative, country)
before logging in, trials, paying subscribers with monthly renewals, refunds, cancellations,
offers, 10% paying in EUR, heavy users, conflicts and late arrivals. The events go into the log
through the store's writer and the real projector builds the read models from them (as
``flokit rebuild`` would), so the reports read what a real log leaves behind; then two years of
daily spend for the 200 campaigns (146,000 rows) and daily USD->EUR rates. Made once per scale
(cached in bench/out; at scale 1 that took 15 minutes here: the log written at ~30k
events/s, projected at ~18k events/s).

1. ``flokit serve`` on that database: ``GET /v1/reports/payback`` over random 90-day ranges and
   ``GET /v1/reports/cohorts`` over random quarters, ``--requests`` each: p50 and p99.
2. While ``client.py`` posts workload batches with 8 connections (the ingest bench's load), a
   marker install with a campaign of its own is posted every so often and the payback report
   polled until its row appears: seconds from the marker's 200 to the report showing it.

Run: ``make bench`` (or ``.venv/bin/python bench/reports.py [--scale 0.1]``). Nothing is
asserted; results also go to bench/out/reports.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from flokit.domain.calendar import format_day, parse_day
from flokit.domain.spend import SpendRow
from flokit.projections.projector import catch_up
from flokit.store import spend_sql
from flokit.store.readmodel_sql import SQLITE
from flokit.store.sqlite import SqliteStore
from flokit.store.sqlite_readmodels import SqliteDb

from common import OUT, UNTHROTTLED, drive, remove
from people_gen import DAY_US, Shape, Writer, generate, plan_users
from server import Server

FIRST_DAY = parse_day("2023-01-01") or 0
DAYS = 730
CAMPAIGNS = 200
EVENTS_PER_PERSON = 10
CHANNELS = ("meta", "google_ads", "tiktok", "snap")
COUNTRIES = ("US", "DE", "FR", "GB", "BR", "JP")


def attribution(rng: random.Random) -> dict[str, Any]:
    """An install's properties: one of the campaigns the spend covers, its channel, an ad set,
    a creative and a country."""
    c = rng.randrange(CAMPAIGNS)
    return {
        "campaign_id": f"cmp_{c}",
        "channel": CHANNELS[c % len(CHANNELS)],
        "ad_set_id": f"set_{c}_{rng.randrange(3)}",
        "creative_id": f"cr_{c}_{rng.randrange(5)}",
        "country": rng.choice(COUNTRIES),
    }


SHAPE = Shape(
    first_us=FIRST_DAY * DAY_US,
    days=DAYS,
    attribution=attribution,
    offers=8,
    eur_share=0.1,
)


def build(db: Path, scale: float) -> str:
    """The workspace at ``db`` (made once per scale; the key file is written last, so an
    interrupted build starts again); its read-write key."""
    done = db.with_suffix(".key")
    if done.exists():
        return done.read_text()
    remove(db.stem)  # the log, the read models beside it, their WALs
    store = SqliteStore(db)
    try:
        workspace, issued = store.create_workspace("reports")
        rng = random.Random(14)
        write_log(store, workspace.id, int(1_000_000 * scale), rng)
        project(store)
        write_spend(store, workspace.id, rng)
        secret = issued.secret
    finally:
        store.close()
    done.write_text(secret)
    return secret


def write_log(store: SqliteStore, ws: int, users: int, rng: random.Random) -> None:
    """``users`` generated users' events, validated and written through the store's writer."""
    began = time.perf_counter()
    plans = plan_users(rng, users, users * EVENTS_PER_PERSON, SHAPE)
    written = generate(Writer(store, ws, "log"), plans, rng, SHAPE)
    seconds = time.perf_counter() - began
    print(
        f"  log: {written:,} events of {users:,} users generated and written in {seconds:.0f} s"
        f" ({written / seconds:,.0f} events/s)",
        flush=True,
    )


def project(store: SqliteStore) -> None:
    """The real projector run over the whole log (``flokit rebuild``'s loop)."""
    began, done, shown = time.perf_counter(), 0, 0

    def progress(events: int) -> None:
        nonlocal done, shown
        done += events
        if done - shown >= 500_000:
            shown = done
            rate = done / (time.perf_counter() - began)
            print(f"  projected: {done:,} events ({rate:,.0f} events/s)", flush=True)

    total = catch_up(store, on_batch=progress)
    seconds = time.perf_counter() - began
    print(
        f"  projection: {total:,} events in {seconds:.0f} s ({total / seconds:,.0f} events/s)",
        flush=True,
    )


def write_spend(store: SqliteStore, ws: int, rng: random.Random) -> None:
    """Two years of daily spend for every campaign, in USD, and USD->EUR rates for every day a
    payment can fall on."""
    spend = [
        SpendRow(
            day, CHANNELS[c % len(CHANNELS)], f"cmp_{c}", "", "", "", rng.randrange(10**9), "USD"
        )
        for day in range(FIRST_DAY, FIRST_DAY + DAYS)
        for c in range(CAMPAIGNS)
    ]
    now = time.time_ns() // 1000
    store.write_sync(lambda c: spend_sql.put_spend(SqliteDb(c), SQLITE, ws, spend, now))
    rates = [(ws, d, "USD", "EUR", 1.08) for d in range(FIRST_DAY, FIRST_DAY + DAYS + 400)]
    store.write_sync(lambda c: c.executemany("INSERT INTO fx_rates VALUES (?, ?, ?, ?, ?)", rates))
    print(f"  spend rows: {len(spend):,}", flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def latency(url: str, key: str, requests: int) -> dict[str, Any]:
    """p50 and p99 of both reports over random ranges (the same ones, alternated)."""
    rng = random.Random(1)
    headers = {"Authorization": f"Bearer {key}"}
    timed: dict[str, list[float]] = {"payback_90d": [], "cohorts_quarter": []}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        for i in range(requests):
            start = FIRST_DAY + rng.randrange(DAYS - 91)
            group = "campaign" if i % 2 else rng.choice(["channel", "country", "offer", "ad_set"])
            paths = {
                "payback_90d": f"/v1/reports/payback?start_date={format_day(start)}"
                f"&end_date={format_day(start + 89)}&group_by={group}&cohort_window_days=90",
                "cohorts_quarter": f"/v1/reports/cohorts?cohort_start={format_day(start)}"
                f"&cohort_end={format_day(start + 90)}&group_by={group}",
            }
            for name, path in paths.items():
                began = time.perf_counter()
                answer = http.get(path)
                timed[name].append(time.perf_counter() - began)
                assert answer.status_code == 200, answer.text
    return {
        name: {"p50_ms": percentile(v, 0.5) * 1000, "p99_ms": percentile(v, 0.99) * 1000}
        for name, v in timed.items()
    }


def caught_up(url: str, budget_s: float = 900) -> float:
    """Wait until the projector has nothing left behind (a cached workspace may hold an earlier
    run's load); the seconds it took."""
    began = time.perf_counter()
    while time.perf_counter() - began < budget_s:
        metrics = httpx.get(f"{url}/metrics", timeout=30).text
        lag = [
            line for line in metrics.splitlines() if line.startswith("flokit_projection_lag_events")
        ]
        if lag and float(lag[0].split()[-1]) == 0:
            break
        time.sleep(1)
    return time.perf_counter() - began


def freshness(url: str, key: str, markers: int, batches: int) -> dict[str, Any]:
    """Seconds from a marker's 200 to the payback report showing it, while ingest runs."""
    waited = caught_up(url)
    load: dict[str, Any] = {}
    # Seeds of this run's own: batches a cached workspace already holds would be duplicates.
    first = int(time.time()) % 100_000 * 10_000
    loader = threading.Thread(target=lambda: load.update(drive(url, key, first, batches)))
    loader.start()
    headers = {"Authorization": f"Bearer {key}"}
    seen: list[float] = []
    day = format_day(FIRST_DAY + DAYS - 1)
    run = f"{first}"  # markers of this run's own (a cached workspace keeps earlier ones)
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        time.sleep(2)  # let the load reach its pace (not a synchronisation)
        for k in range(markers):
            if not loader.is_alive():
                break
            install = {
                "event": "install_attributed",
                "user_id": f"fresh_{run}_{k}",
                "timestamp": f"{day}T12:00:00Z",
                "properties": {"campaign_id": f"fresh_{run}_{k}", "channel": "meta"},
            }
            assert http.post("/v1/batch/events", json={"events": [install]}).status_code == 200
            posted = time.perf_counter()
            path = f"/v1/reports/payback?start_date={day}&end_date={day}&group_by=campaign"
            for _ in range(600):
                rows = http.get(path).json()["rows"]
                if any(r["group"] == f"fresh_{run}_{k}" for r in rows):
                    seen.append(time.perf_counter() - posted)
                    break
                time.sleep(0.05)
    loader.join()
    return {
        "waited_for_projector_s": waited,
        "markers_seen": len(seen),
        "median_s": statistics.median(seen) if seen else None,
        "max_s": max(seen) if seen else None,
        "ingest_events_per_s": load.get("events_per_s"),
        "ingest": {k: v for k, v in load.items() if not isinstance(v, list)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="x 1,000,000 people")
    parser.add_argument("--requests", type=int, default=100, help="requests per report")
    parser.add_argument("--markers", type=int, default=10, help="freshness probes")
    parser.add_argument("--batches", type=int, default=600, help="1,000-event load batches")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    db = OUT / f"reports-{args.scale:g}.db"
    people_count = int(1_000_000 * args.scale)
    print(
        f"reports bench: {people_count:,} users ({people_count * EVENTS_PER_PERSON:,} events),"
        f" {CAMPAIGNS} campaigns x {DAYS} days of spend",
        flush=True,
    )
    began = time.perf_counter()
    key = build(db, args.scale)
    print(f"  built in {time.perf_counter() - began:.0f} s (cached: {db.name})", flush=True)
    env = {**UNTHROTTLED}
    server = Server(db, log=db.with_suffix(".serve.log"), env=env)
    try:
        lat = latency(server.url, key, args.requests)
        print(f"1. latency over {args.requests} requests each (one connection):")
        for name, figures in lat.items():
            print(f"   {name}: p50 {figures['p50_ms']:.0f} ms, p99 {figures['p99_ms']:.0f} ms")
        fresh = freshness(server.url, key, args.markers, args.batches)
    finally:
        server.stop()
    print(
        f"2. freshness under load ({fresh['ingest_events_per_s'] or 0:,.0f} events/s ingested):"
        f" {fresh['markers_seen']}/{args.markers} markers seen, median {fresh['median_s']} s,"
        f" max {fresh['max_s']} s"
    )
    result = {"scale": args.scale, "people": people_count, "latency": lat, "freshness": fresh}
    (OUT / "reports.json").write_text(json.dumps(result, indent=2))
    print("   results: bench/out/reports.json")


if __name__ == "__main__":
    main()
