"""Ingest benchmark (issue 2): store limit, end-to-end on an empty and a 5M-event store, ratios.

Run: ``make bench`` (or ``.venv/bin/python bench/ingest.py [--batches N] [--grown N]``).
Everything is measured in this one run, side by side, on this machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from workload import batch

from flokit.model import ValidEvent
from flokit.pipeline.ids import IdGenerator
from flokit.pipeline.validate import Validator
from flokit.settings import Settings
from flokit.store import sqlite_events
from flokit.store.sqlite import SqliteStore

from server import Server

OUT = Path(__file__).resolve().parent / "out"
HERE = Path(__file__).resolve().parent
WEEK_US = 7 * 86_400 * 1_000_000


def valid_events(seed: int) -> list[ValidEvent]:
    """A workload batch already validated (the store limit measures storage alone)."""
    validator, now = Validator(Settings()), time.time_ns() // 1000
    checked = [validator.check(json.dumps(e).encode(), i, now) for i, e in enumerate(batch(seed))]
    return [e for e in checked if isinstance(e, ValidEvent)]


def write_batches(store: SqliteStore, workspace_id: int, batches: list[list[ValidEvent]]) -> float:
    """Write each batch as one transaction through the store's own writer; seconds taken."""
    ids = IdGenerator()
    started = time.perf_counter()
    for events in batches:
        now = time.time_ns() // 1000
        new_ids = ids.batch(len(events), now // 1000)
        store.write_sync(
            lambda conn, ev=events, ni=new_ids, n=now: sqlite_events.insert_events(
                conn, workspace_id, ev, ni, n, n + WEEK_US
            ),
            rows=len(events),
        )
    return time.perf_counter() - started


def store_limit(db: Path, count: int) -> float:
    store = SqliteStore(db)
    workspace, _ = store.create_workspace("bench")
    batches = [valid_events(seed) for seed in range(10_000, 10_000 + count)]
    seconds = write_batches(store, workspace.id, batches)
    store.close()
    return sum(map(len, batches)) / seconds


def grown_db(rows: int) -> tuple[Path, str]:
    """A database holding ``rows`` events (built once, then copied), and a read-write key."""
    cached, meta = OUT / f"grown-{rows}.db", OUT / f"grown-{rows}.json"
    if not meta.exists():
        for stale in OUT.glob(f"grown-{rows}.db*"):
            stale.unlink()
        store = SqliteStore(cached)
        workspace, issued = store.create_workspace("bench")
        templates = [valid_events(seed) for seed in range(8)]
        done = 0
        while done < rows:
            events = [_reseed(e, f"g{done}_{i}") for i, e in enumerate(templates[done // 1000 % 8])]
            write_batches(store, workspace.id, [events[: rows - done]])
            done += len(events)
            if done % 500_000 < len(events):
                print(f"  grown store: {done:,} events", flush=True)
        store.close()
        meta.write_text(json.dumps({"key": issued.secret}))
    target = OUT / "grown-run.db"
    for stale in OUT.glob("grown-run.db*"):
        stale.unlink()
    shutil.copyfile(cached, target)
    return target, json.loads(meta.read_text())["key"]


def _reseed(event: ValidEvent, serial: str) -> ValidEvent:
    txn = f"txn_{serial}" if event.transaction_id else None
    return ValidEvent(
        event.event,
        event.user_id,
        event.anonymous_id,
        event.timestamp_us,
        event.properties,
        f"ins_{serial}",
        txn,
    )


def end_to_end(db: Path, key: str, first_seed: int, count: int) -> dict[str, Any]:
    """``flokit serve`` (1 worker) driven by 8 connections from another process."""
    server = Server(db, workers=1, log=db.with_suffix(".serve.log"))
    try:
        done = subprocess.run(
            [
                sys.executable,
                str(HERE / "client.py"),
                server.url,
                key,
                str(first_seed),
                str(count),
                "8",
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=HERE,
        )
        result: dict[str, Any] = json.loads(done.stdout)
        result["server_rss_mb"] = _peak_rss_mb(server.proc.pid)
    finally:
        server.stop()
    return result


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=300, help="1,000-event batches per run")
    parser.add_argument("--grown", type=int, default=5_000_000, help="events in the grown store")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    fresh = OUT / "store-limit.db"
    for stale in OUT.glob("store-limit.db*"):
        stale.unlink()
    limit = store_limit(fresh, args.batches)
    print(f"1. store limit: {limit:,.0f} events/s ({args.batches} x ~980-row transactions)")

    empty_db = OUT / "empty-run.db"
    for stale in OUT.glob("empty-run.db*"):
        stale.unlink()
    store = SqliteStore(empty_db)
    _, issued = store.create_workspace("bench")
    store.close()
    empty = end_to_end(empty_db, issued.secret, 0, args.batches)
    _report("2. end to end, empty store", empty)

    grown_path, grown_key = grown_db(args.grown)
    grown = end_to_end(grown_path, grown_key, 1_000_000, args.batches)
    _report(f"3. end to end, store with {args.grown:,} events", grown)

    print("4. ratios")
    print(f"   end-to-end / store limit : {empty['events_per_s'] / limit:.2f} (target >= 0.6)")
    growth = grown["events_per_s"] / empty["events_per_s"]
    print(f"   grown / empty store      : {growth:.2f} (target >= 0.8)")
    for name, run in (("empty", empty), ("grown", grown)):
        print(f"   p99 / p50 ({name})        : {run['p99_ms'] / run['p50_ms']:.2f} (target <= 3)")
    peak = max(empty["server_rss_mb"], grown["server_rss_mb"])
    print(f"   peak server RSS          : {peak:.0f} MB (target <= 250)")


def _report(title: str, run: dict[str, Any]) -> None:
    print(
        f"{title}: {run['events_per_s']:,.0f} events/s stored; batch p50 {run['p50_ms']:.0f} ms, "
        f"p99 {run['p99_ms']:.0f} ms; server peak RSS {run['server_rss_mb']:.0f} MB; "
        f"{run['batches']} batches of {run['body_kb']} KB, statuses {run['statuses']}, "
        f"{run['stored']:,} stored, {run['rejected']:,} rejected"
    )


if __name__ == "__main__":
    main()
