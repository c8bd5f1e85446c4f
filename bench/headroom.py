"""CPU headroom for the projector (issue 12): how much of this machine ingest at the ingest
bench's full rate leaves idle, and how much CPU the projector needs per event of that workload.

1. ``flokit serve`` with the projector off, driven by ``client.py`` (8 connections, 1,000-event
   workload batches: every event a new user and a new anonymous id, so a new link and a new
   person): events/s, and the machine's busy cores from /proc/stat over the run.
2. The projector on that log, alone (``catch_up``, one thread): CPU seconds per event.
3. What keeping up live would need: the ingest rate x CPU per event, against the idle cores.

Run: ``.venv/bin/python bench/headroom.py [--batches N]`` (also in ``make bench``). Nothing is
asserted; results also go to bench/out/headroom.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from flokit.projections.projector import catch_up
from flokit.store.sqlite import SqliteStore

from common import OUT, UNTHROTTLED, drive_with_handshake, fresh_db
from server import Server


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def ingest_alone(db: Path, key: str, batches: int) -> dict[str, float]:
    """Ingest with the projector off: its rate and the machine's busy cores meanwhile."""
    env = {**UNTHROTTLED, "FLOKIT_PROJECTOR": "false"}
    server = Server(db, log=OUT / "headroom.serve.log", env=env)
    try:
        busy0, total0 = cpu_ticks()
        result, started, ended = drive_with_handshake(server.url, key, 1, batches)
        busy1, total1 = cpu_ticks()
    finally:
        server.stop()
    cores = os.cpu_count() or 1
    busy_share = (busy1 - busy0) / max(1, total1 - total0)
    return {
        "events_per_s": result["events_per_s"],
        "stored": result["stored"],
        "seconds": ended - started,
        "busy_cores": busy_share * cores,
        "idle_cores": (1 - busy_share) * cores,
    }


def projector_alone(db: Path) -> dict[str, float]:
    """The projector over that log, alone on this thread: wall and CPU per event."""
    store = SqliteStore(db)
    try:
        began, cpu0 = time.perf_counter(), time.thread_time()
        events = catch_up(store)
        wall, cpu = time.perf_counter() - began, time.thread_time() - cpu0
    finally:
        store.close()
    return {
        "events": events,
        "events_per_s": events / wall,
        "cpu_us_per_event": cpu / events * 1e6,
        "events_per_cpu_s": events / cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=300, help="1,000-event batches")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    db, key = fresh_db("headroom.db")
    ingest = ingest_alone(db, key, args.batches)
    print(
        f"1. ingest alone: {ingest['events_per_s']:,.0f} events/s stored over"
        f" {ingest['seconds']:.1f} s; machine busy {ingest['busy_cores']:.2f} of"
        f" {os.cpu_count()} cores, idle {ingest['idle_cores']:.2f}"
    )
    proj = projector_alone(db)
    print(
        f"2. projector alone on that log: {proj['events']:,} events at"
        f" {proj['events_per_s']:,.0f} events/s, {proj['cpu_us_per_event']:.1f} CPU-us an event"
    )
    need = ingest["events_per_s"] / proj["events_per_cpu_s"]
    print(
        f"3. keeping up at {ingest['events_per_s']:,.0f} events/s takes {need:.2f} cores of"
        f" projector; ingest leaves {ingest['idle_cores']:.2f} idle"
    )
    result = {"ingest": ingest, "projector": proj, "cores_needed": need}
    (OUT / "headroom.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
