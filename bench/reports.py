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

1. ``flokit serve`` on that database, once its projector has caught up:
   ``GET /v1/reports/payback`` over random 90-day ranges and ``GET /v1/reports/cohorts`` over
   random quarters, ``WARM_UP`` requests of each first (printed apart), then ``--requests``
   each: p50 and p99, and the median per group_by.
2. On a copy of that database, from the moment ``client.py`` starts posting workload batches
   with 8 connections (the ingest bench's load) until it ends, a marker install with a campaign
   of its own every second, the payback report polled until its row appears: seconds from the
   marker's 200 to the report showing it (missed after ``MARKER_TIMEOUT_S``).

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
from collections.abc import Iterator
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

from common import OUT, UNTHROTTLED, drive_with_handshake, remove, snapshot
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


#: Requests of each report run first and reported apart: a fresh server's reader connections
#: start with empty page caches (the first answers here took 1-2 s, the steady ones a third).
WARM_UP = 10
TARGET_MS = {"payback_90d": 500, "cohorts_quarter": 1_000}
GROUPS = ("channel", "country", "offer", "ad_set")


def report_paths(requests: int) -> Iterator[tuple[str, str, str]]:
    """(report, group_by, path) over random ranges: a 90-day payback and a quarter of cohort
    curves on the same start, grouped by campaign every other time, else by another dimension."""
    rng = random.Random(1)
    for i in range(requests):
        start = FIRST_DAY + rng.randrange(DAYS - 91)
        group = "campaign" if i % 2 else rng.choice(GROUPS)
        yield (
            "payback_90d",
            group,
            f"/v1/reports/payback?start_date={format_day(start)}"
            f"&end_date={format_day(start + 89)}&group_by={group}&cohort_window_days=90",
        )
        yield (
            "cohorts_quarter",
            group,
            f"/v1/reports/cohorts?cohort_start={format_day(start)}"
            f"&cohort_end={format_day(start + 90)}&group_by={group}",
        )


def latency(url: str, key: str, requests: int) -> dict[str, Any]:
    """p50 and p99 of both reports after ``WARM_UP`` requests of each, the warm-up's own
    figures, and the median per group_by."""
    headers = {"Authorization": f"Bearer {key}"}
    timed: dict[str, list[float]] = {}
    by_group: dict[str, list[float]] = {}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        for n, (name, group, path) in enumerate(report_paths(WARM_UP + requests)):
            began = time.perf_counter()
            answer = http.get(path)
            seconds = time.perf_counter() - began
            assert answer.status_code == 200, answer.text
            phase = "warm_up" if n < 2 * WARM_UP else "steady"
            timed.setdefault(f"{phase}:{name}", []).append(seconds)
            if phase == "steady":
                by_group.setdefault(f"{name}/{group}", []).append(seconds)
    return {
        "requests": requests,
        "warm_up": WARM_UP,
        **{
            name: {
                "p50_ms": percentile(v, 0.5) * 1000,
                "p99_ms": percentile(v, 0.99) * 1000,
                "max_ms": max(v) * 1000,
            }
            for name, v in timed.items()
        },
        "median_ms_by_group": {k: statistics.median(v) * 1000 for k, v in sorted(by_group.items())},
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


#: The longest a marker is waited for; one not seen by then counts as missed.
MARKER_TIMEOUT_S = 30.0
FRESH_TARGET_S = 5.0


def freshness(url: str, key: str, markers: int, batches: int) -> dict[str, Any]:
    """Seconds from a marker's 200 to the payback report showing it, while ingest runs: one
    marker at a time, a second apart, from the moment the load starts (client.py encodes its
    batches first) until it ends (``markers`` at most)."""
    waited = caught_up(url)
    load: list[tuple[dict[str, Any], float, float]] = []
    going = threading.Event()
    # Seeds of this run's own: batches a cached workspace already holds would be duplicates.
    first = int(time.time()) % 100_000 * 10_000
    loader = threading.Thread(
        target=lambda: load.append(drive_with_handshake(url, key, first, batches, going))
    )
    loader.start()
    headers = {"Authorization": f"Bearer {key}"}
    seen: list[tuple[float, float]] = []  # (seconds into the load, seconds to show)
    missed = 0
    going.wait(timeout=600)
    began = time.monotonic()
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        time.sleep(2)  # let the load reach its pace (not a synchronisation)
        for k in range(markers):
            if not loader.is_alive():
                break
            into = time.monotonic() - began
            waited_s = _marker(http, f"fresh_{first}_{k}")
            if waited_s is None:
                missed += 1
            else:
                seen.append((into, waited_s))
            time.sleep(1.0)
    loader.join()
    result, started, ended = load[0]
    shown = [s for _, s in seen]
    return {
        "waited_for_projector_s": waited,
        "load_s": ended - started,
        "markers_seen": len(seen),
        "markers_missed": missed,
        "seen": seen,
        "median_s": statistics.median(shown) if shown else None,
        "max_s": max(shown) if shown else None,
        "ingest_events_per_s": result.get("events_per_s"),
        "ingest": {k: v for k, v in result.items() if not isinstance(v, list)},
    }


def _marker(http: httpx.Client, name: str) -> float | None:
    """Post an install with a campaign named ``name`` and poll the payback report until a row
    for it shows: the seconds that took, or None after ``MARKER_TIMEOUT_S``."""
    day = format_day(FIRST_DAY + DAYS - 1)
    install = {
        "event": "install_attributed",
        "user_id": name,
        "timestamp": f"{day}T12:00:00Z",
        "properties": {"campaign_id": name, "channel": "meta"},
    }
    assert http.post("/v1/batch/events", json={"events": [install]}).status_code == 200
    posted = time.perf_counter()
    path = f"/v1/reports/payback?start_date={day}&end_date={day}&group_by=campaign"
    while (waited := time.perf_counter() - posted) < MARKER_TIMEOUT_S:
        if any(r["group"] == name for r in http.get(path).json()["rows"]):
            return waited
        time.sleep(0.05)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="x 1,000,000 people")
    parser.add_argument("--requests", type=int, default=100, help="requests per report")
    parser.add_argument("--markers", type=int, default=100, help="most freshness probes")
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
        behind_s = caught_up(server.url)  # a projector catching up would share the cores
        print(f"  projector caught up in {behind_s:.0f} s", flush=True)
        lat = latency(server.url, key, args.requests)
        print(
            f"1. latency over {args.requests} requests each (one connection), after"
            f" {WARM_UP} of each to warm a fresh server's caches:"
        )
        for name in ("payback_90d", "cohorts_quarter"):
            steady, cold = lat[f"steady:{name}"], lat[f"warm_up:{name}"]
            target = TARGET_MS[name]
            print(
                f"   {name}: p50 {steady['p50_ms']:.0f} ms, p99 {steady['p99_ms']:.0f} ms"
                f" (target <= {target} ms: {'met' if steady['p99_ms'] <= target else 'MISSED'});"
                f" warm-up p50 {cold['p50_ms']:.0f} ms, max {cold['max_ms']:.0f} ms"
            )
        medians = ", ".join(f"{k} {v:.0f}" for k, v in lat["median_ms_by_group"].items())
        print(f"   medians by group (ms): {medians}")
    finally:
        server.stop()
    # The load goes into a copy: the cached store stays as built for the next run (a run's
    # load of new people would leave the projector hours of catching up here).
    copy = snapshot(db, f"reports-{args.scale:g}-fresh")
    server = Server(copy, log=copy.with_suffix(".serve.log"), env=env)
    try:
        fresh = freshness(server.url, key, args.markers, args.batches)
    finally:
        server.stop()
        remove(copy.stem + ".")
    worst = fresh["max_s"]
    met = worst is not None and worst <= FRESH_TARGET_S and not fresh["markers_missed"]
    print(
        f"2. freshness under load ({fresh['ingest_events_per_s'] or 0:,.0f} events/s ingested):"
        f" {fresh['markers_seen']} markers seen, {fresh['markers_missed']} missed"
        f" (> {MARKER_TIMEOUT_S:.0f} s), median {fresh['median_s'] or 0:.2f} s, max"
        f" {worst or 0:.2f} s (target <= {FRESH_TARGET_S:.0f} s: {'met' if met else 'MISSED'});"
        f" over {fresh['load_s']:.0f} s of load"
    )
    result = {"scale": args.scale, "people": people_count, "latency": lat, "freshness": fresh}
    (OUT / "reports.json").write_text(json.dumps(result, indent=2))
    print("   results: bench/out/reports.json")


if __name__ == "__main__":
    main()
