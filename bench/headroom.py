"""CPU headroom for the projector (issue 12): how much of this machine ingest at the ingest
bench's full rate leaves idle, and how much CPU the projector needs per event of that workload.

1. ``flokit serve`` with the projector off, driven by ``client.py`` (8 connections, 1,000-event
   workload batches: every event a new user and a new anonymous id, so a new link and a new
   person): events/s, and the machine's busy cores from /proc/stat over the run.
2. The projector on that log, alone (``catch_up``, one thread): CPU seconds per event.
3. The floor of any projector that keeps per-event index rows in SQLite: on a copy of that log,
   only the event index (3 rows an event), the links and a people row per user, each as one
   ``INSERT ... SELECT`` per batch of 16,000 (no Python per event, no facts, no reports).
4. What keeping up live would need: the ingest rate x CPU per event, against the idle cores.
5. Steps 2-4 again on a realistic log instead (``bench/people_gen.py``, the identity bench's
   people: about 10 events a user over 1-3 anonymous ids), written as the identity bench's
   store is, a chunk of 2,000 users' whole lives at a time: a person's events share one or two
   projector batches.
6. The same people with every event in timestamp order, as live traffic arrives: a person's
   events are spread over the whole log, so a batch touches a person for one or two events.

Run: ``.venv/bin/python bench/headroom.py [--batches N]`` (also in ``make bench``). Nothing is
asserted; results also go to bench/out/headroom.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import threading
import time
from pathlib import Path

from flokit.projections.projector import catch_up
from flokit.store.sqlite import SqliteStore

from common import OUT, UNTHROTTLED, drive_with_handshake, fresh_db, remove
from people_gen import Shape, Writer, generate, plan_users
from server import Server


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def ingest_alone(db: Path, key: str, batches: int) -> dict[str, float]:
    """Ingest with the projector off: its rate and the machine's busy cores while the load
    runs (from client.py's "go", after it has encoded its batches on one core, to its end)."""
    env = {**UNTHROTTLED, "FLOKIT_PROJECTOR": "false"}
    server = Server(db, log=OUT / "headroom.serve.log", env=env)
    going, at_go = threading.Event(), []
    watcher = threading.Thread(target=lambda: at_go.append(going.wait(60) and cpu_ticks()))
    try:
        watcher.start()
        result, started, ended = drive_with_handshake(server.url, key, 1, batches, going)
        busy1, total1 = cpu_ticks()
        watcher.join()
    finally:
        server.stop()
    busy0, total0 = at_go[0]
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


#: The floor's statements over one batch of the log: 6 B-tree rows an event (3 index rows, a
#: link, a people row and its recency index entry), all in SQLite's C code.
FLOOR_SCHEMA = (
    "CREATE TABLE f.event_index (workspace_id INTEGER NOT NULL, key TEXT NOT NULL, seq INTEGER"
    " NOT NULL, ts INTEGER NOT NULL, solo INTEGER NOT NULL, PRIMARY KEY (workspace_id, key, seq))"
    " WITHOUT ROWID",
    "CREATE TABLE f.links (workspace_id INTEGER NOT NULL, anonymous_id TEXT NOT NULL, user_id"
    " TEXT NOT NULL, PRIMARY KEY (workspace_id, anonymous_id)) WITHOUT ROWID",
    "CREATE INDEX f.links_user ON links (workspace_id, user_id)",
    "CREATE TABLE f.people (workspace_id INTEGER NOT NULL, key TEXT NOT NULL, first_seen INTEGER,"
    " last_seen INTEGER, event_count INTEGER, PRIMARY KEY (workspace_id, key)) WITHOUT ROWID",
    "CREATE INDEX f.people_recent ON people (workspace_id, last_seen, key)",
)
_RANGE = "FROM events WHERE seq > ? AND seq <= ?"
FLOOR_BATCH = (
    f"INSERT INTO f.event_index SELECT workspace_id, 'e:' || event, seq, timestamp_us, 0 {_RANGE}",
    f"INSERT INTO f.event_index SELECT workspace_id, 'u:' || user_id, seq, timestamp_us, 0 {_RANGE}"
    " AND user_id IS NOT NULL",
    "INSERT INTO f.event_index SELECT workspace_id, 'a:' || anonymous_id, seq, timestamp_us,"
    f" user_id IS NULL {_RANGE} AND anonymous_id IS NOT NULL",
    f"INSERT INTO f.links SELECT workspace_id, anonymous_id, min(user_id) {_RANGE} AND user_id IS"
    " NOT NULL AND anonymous_id IS NOT NULL GROUP BY 1, 2 ON CONFLICT DO NOTHING",
    "INSERT INTO f.people SELECT workspace_id, 'u:' || user_id, min(timestamp_us),"
    f" max(timestamp_us), count(*) {_RANGE} AND user_id IS NOT NULL GROUP BY 1, 2 ON CONFLICT DO"
    " UPDATE SET first_seen = min(first_seen, excluded.first_seen), last_seen ="
    " max(last_seen, excluded.last_seen), event_count = event_count + excluded.event_count",
)


def set_based_floor(db: Path, batch: int = 16_000) -> dict[str, float]:
    """The floor (3.): CPU per event of the 6 rows alone, into a scratch file beside the log."""
    scratch = OUT / "headroom-floor.db"
    scratch.unlink(missing_ok=True)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute(f"ATTACH '{scratch}' AS f")
        conn.execute("PRAGMA f.journal_mode = WAL")
        conn.execute("PRAGMA f.synchronous = NORMAL")
        for statement in FLOOR_SCHEMA:
            conn.execute(statement)
        top = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
        began, cpu0 = time.perf_counter(), time.thread_time()
        for low in range(0, top, batch):
            conn.execute("BEGIN")
            for statement in FLOOR_BATCH:
                conn.execute(statement, (low, low + batch))
            conn.execute("COMMIT")
        wall, cpu = time.perf_counter() - began, time.thread_time() - cpu0
    finally:
        conn.close()
        for stale in OUT.glob("headroom-floor.db*"):
            stale.unlink()
    return {"events": top, "events_per_s": top / wall, "cpu_us_per_event": cpu / top * 1e6}


#: The realistic log of step 5: the identity bench's people, at a tenth of a million users.
PEOPLE_USERS, PEOPLE_EVENTS = 30_000, 300_000


def people_log(by_time: bool) -> Path:
    """A fresh log of ``PEOPLE_USERS`` generated people (steps 5 and 6), no read models."""
    db = OUT / f"headroom-people{'-by-time' if by_time else ''}.db"
    remove(f"{db.stem}.")
    store = SqliteStore(db)
    try:
        rng = random.Random(5)
        workspace, _ = store.create_workspace("people")
        plans = plan_users(rng, PEOPLE_USERS, PEOPLE_EVENTS)
        generate(Writer(store, workspace.id, "people log"), plans, rng, Shape(by_time=by_time))
    finally:
        store.close()
    return db


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
    floor = set_based_floor(db)
    print(
        f"3. floor, 6 B-tree rows an event set-based in SQLite: {floor['events_per_s']:,.0f}"
        f" events/s, {floor['cpu_us_per_event']:.1f} CPU-us an event"
    )
    rate = ingest["events_per_s"]
    need = rate * proj["cpu_us_per_event"] / 1e6
    need_floor = rate * floor["cpu_us_per_event"] / 1e6
    print(
        f"4. keeping up at {rate:,.0f} events/s takes {need:.2f} cores of this projector,"
        f" {need_floor:.2f} at the floor; ingest leaves {ingest['idle_cores']:.2f} idle"
    )
    people: dict[str, dict[str, float]] = {}
    for step, by_time in ((5, False), (6, True)):
        log = people_log(by_time)
        proj, floor_here = projector_alone(log), set_based_floor(log)
        people[f"{'by_time' if by_time else 'chunked'}"] = {"projector": proj, "floor": floor_here}
        print(
            f"{step}. on {PEOPLE_EVENTS:,} events of {PEOPLE_USERS:,} realistic people"
            f" ({'in timestamp order, as live traffic' if by_time else 'chunk by chunk'}):"
            f" projector {proj['cpu_us_per_event']:.1f} CPU-us an event"
            f" ({rate * proj['cpu_us_per_event'] / 1e6:.2f} cores at {rate:,.0f} events/s),"
            f" floor {floor_here['cpu_us_per_event']:.1f}"
            f" ({rate * floor_here['cpu_us_per_event'] / 1e6:.2f} cores)"
        )
    result = {
        "people": people,
        "ingest": ingest,
        "projector": proj,
        "floor": floor,
        "cores_needed": need,
        "cores_needed_at_floor": need_floor,
    }
    (OUT / "headroom.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
