"""PostgreSQL benchmark: store limit, 1 and 2 nodes over HTTP, the Redis limiter, a 5M-event store.

Run: ``cd bench && ../.venv/bin/python postgres.py [--batches N] [--rounds N] [--grown N]``.

Every figure is measured in this one run, on this machine. Each round runs every configuration
once, forward in odd rounds and backward in even ones, so the machine's drift falls on all of
them; figures are medians over the rounds and ratios the median of each round's ratio (the
two runs of a ratio are neighbours in time). Every run starts on a checkpointed server.

Configurations: the store limit (the ingest bench's validated batches through
``PostgresStore.append`` in-process, one ~980-row transaction each, 8 appends at a time as the
served runs have 8 connections, and 1 at a time for reference); ``flokit serve`` over HTTP
with 8 keep-alive connections: 1 node (``FLOKIT_RATE_LIMITS=false``), 1 node with the Redis
limiter on (a per-workspace limit that never refuses), 2 nodes (2 serve processes, the
connections spread over them), and 1 node on a store already holding ``--grown`` events.
CPU of the node processes, the load generator and the PostgreSQL processes is sampled from
/proc during each served run; WAL and transaction counts come from pg_stat_wal and
pg_stat_database.

Needs PostgreSQL at 127.0.0.1:5432 (trust, user postgres; databases ``flokit_bench_<run>_*``,
dropped at the end) and Redis at 127.0.0.1:6379 (keys ``flokit-bench:<run>:*``, deleted at the
end).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import queue
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import psycopg
import redis

from flokit.model import Rendered, ValidEvent
from flokit.pipeline.duplicates import duplicate_keys
from flokit.pipeline.ids import IdGenerator
from flokit.store.postgres import PostgresStore
from flokit.store.postgres import events as event_rows
from flokit.store.postgres.connections import Connection

from common import HERE, OUT, WEEK_US, peak_rss_mb, valid_events
from server import Server, cli
from workload import encoded_batch

PG = "postgresql://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/0"
CONNECTIONS = 8
#: Per-workspace limit for the limiter-on runs: high enough never to refuse.
NEVER_REFUSED = 100_000_000
LIMITS_OFF = {"FLOKIT_RATE_LIMITS": "false"}
SAMPLE_S = 0.25
TICK = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


# -- the load generator (its own process) ---------------------------------------------------


def client_main(argv: list[str]) -> None:
    """``postgres.py client URL[,URL…] KEY FIRST_SEED COUNT CONNECTIONS``: connection i posts to
    URL i mod n; prints ``ready``, waits for a line on stdin, runs, prints one JSON line."""
    urls, key = argv[0].split(","), argv[1]
    first, count, connections = map(int, argv[2:5])
    bodies = [encoded_batch(seed) for seed in range(first, first + count)]  # before the clock
    work: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    for body in bodies:
        work.put(body)
    results: list[tuple[float, int, int, int]] = []
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def worker(url: str) -> None:
        target = urlsplit(url)
        conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=120)
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                conn.close()
                return
            started = time.perf_counter()
            conn.request("POST", "/v1/batch/events", body, headers)
            response = conn.getresponse()
            payload = json.loads(response.read())
            elapsed = time.perf_counter() - started
            stored = payload.get("accepted", 0) - payload.get("duplicates", 0)
            with lock:
                results.append((elapsed, response.status, stored, payload.get("rejected", 0)))

    threads = [
        threading.Thread(target=worker, args=(urls[i % len(urls)],)) for i in range(connections)
    ]
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies = sorted(r[0] for r in results)
    stored = sum(r[2] for r in results)
    print(
        json.dumps(
            {
                "batches": len(results),
                "statuses": sorted({r[1] for r in results}),
                "stored": stored,
                "rejected": sum(r[3] for r in results),
                "seconds": wall,
                "events_per_s": stored / wall,
                "p50_ms": latencies[len(latencies) // 2] * 1000,
                "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            }
        ),
        flush=True,
    )


# -- CPU of processes, from /proc ------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(comm, ppid, utime + stime ticks) of a process, or None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return comm, int(fields[1]), int(fields[11]) + int(fields[12])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _machine() -> tuple[int, int, int, int]:
    """(busy, iowait, steal, total) ticks of the whole machine, from /proc/stat."""
    values = list(map(int, Path("/proc/stat").read_text().splitlines()[0].split()[1:]))
    idle, iowait, steal = values[3], values[4], values[7] if len(values) > 7 else 0
    total = sum(values[:8])
    return total - idle - iowait - steal, iowait, steal, total


class CpuSampler:
    """CPU seconds per group while it runs: ``node`` (the serve processes and their children),
    ``client``, ``pg-db`` (PostgreSQL backends of this run's database), ``pg-other`` (the rest
    of PostgreSQL: WAL writer, checkpointer, other databases' backends); and the machine."""

    def __init__(self, nodes: list[int], client: int, dbname: str) -> None:
        self.nodes, self.client, self.marker = set(nodes), client, f" {dbname} "
        self._base: dict[int, int] = {}
        self._last: dict[int, tuple[str, int]] = {}
        self._groups: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.cores: dict[str, float] = {}

    def _scan(self) -> dict[int, tuple[str, int, int]]:
        found: dict[int, tuple[str, int, int]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
                found[int(entry.name)] = stat
        return found

    def _group(self, pid: int, procs: dict[int, tuple[str, int, int]]) -> str | None:
        if pid in self._groups:
            return self._groups[pid]
        group: str | None = None
        comm, ppid, _ = procs[pid]
        if pid == self.client:
            group = "client"
        elif pid in self.nodes or ppid in self.nodes:
            group = "node"
        elif comm == "postgres":
            group = "pg-db" if self.marker in _cmdline(pid) else "pg-other"
        if group is not None:
            self._groups[pid] = group
        return group

    def _sample(self) -> None:
        procs = self._scan()
        for pid, (_, _, ticks) in procs.items():
            group = self._group(pid, procs)
            if group is not None:
                self._last[pid] = (group, ticks)

    def __enter__(self) -> CpuSampler:
        procs = self._scan()
        for pid, (_, _, ticks) in procs.items():
            if self._group(pid, procs) is not None:
                self._base[pid] = ticks
        self._machine0, self._t0 = _machine(), time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        wall = time.monotonic() - self._t0
        used: dict[str, int] = defaultdict(int)
        for pid, (group, ticks) in self._last.items():
            used[group] += ticks - self._base.get(pid, 0)
        self.cores = {
            group: used[group] / TICK / wall for group in ("node", "client", "pg-db", "pg-other")
        }
        busy, iowait, steal, total = (
            b - a for a, b in zip(self._machine0, _machine(), strict=True)
        )
        cpus = os.cpu_count() or 1
        for name, ticks in (("machine", busy), ("iowait", iowait), ("steal", steal)):
            self.cores[name] = ticks / total * cpus if total else 0.0

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self._sample()


# -- PostgreSQL databases, server statistics -------------------------------------------------


class Databases:
    """This run's databases: a migrated template with one workspace, copies of it, cleanup."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.admin = psycopg.connect(f"{PG}/postgres", autocommit=True)
        self.created: list[str] = []
        self.template = self.create("tmpl")
        store = PostgresStore(self.url(self.template))
        workspace, issued = store.create_workspace("bench")
        store.close()
        self.workspace_id, self.key = workspace.id, issued.secret
        cli(
            self.url(self.template),
            "workspaces",
            "set-limit",
            workspace.public_id,
            "--requests-per-minute",
            str(NEVER_REFUSED),
            json_output=False,
        )

    @staticmethod
    def url(name: str) -> str:
        return f"{PG}/{name}"

    def create(self, suffix: str) -> str:
        """A new database: the template's copy, or (the template itself) empty."""
        name = f"flokit_bench_{self.run}_{suffix}"
        source = f' TEMPLATE "{self.template}"' if self.created else ""
        self.admin.execute(f'CREATE DATABASE "{name}"{source}'.encode())
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        self.created.remove(name)

    def checkpoint(self) -> None:
        self.admin.execute("CHECKPOINT")

    def stats(self, name: str) -> dict[str, float]:
        """Cumulative counters: this database's transactions and tuples, the server's WAL."""
        db = self.admin.execute(
            "SELECT xact_commit, tup_inserted, blks_read FROM pg_stat_database WHERE datname = %s",
            (name,),
        ).fetchone()
        wal = self.admin.execute(
            "SELECT wal_records, wal_fpi, wal_bytes, wal_sync FROM pg_stat_wal"
        ).fetchone()
        assert db is not None and wal is not None
        keys = ("commits", "inserted", "blks_read", "wal_records", "wal_fpi", "wal_bytes", "syncs")
        return dict(zip(keys, map(float, (*db, *wal)), strict=True))

    def close(self) -> None:
        for name in list(reversed(self.created)):
            self.drop(name)
        self.admin.close()


def stats_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before[key] for key in before}


# -- the store limit, in-process ---------------------------------------------------------------


def _render(originals: list[str | None]) -> Rendered:
    return Rendered(b"", {})


def store_limit(
    url: str, workspace_id: int, batches: list[list[ValidEvent]], concurrency: int
) -> float:
    """Events/s of ``PostgresStore.append``, ``concurrency`` appends at a time, each batch one
    transaction, exactly as a served request stores its events (the same method)."""
    store = PostgresStore(url)
    ids = IdGenerator()

    async def drive() -> float:
        work = iter(batches)

        async def appender() -> None:
            for events in work:  # one iterator shared by the appenders
                now = time.time_ns() // 1000
                new_ids = ids.batch(len(events), now // 1000)
                appended = await store.append(workspace_id, events, new_ids, now, WEEK_US, _render)
                assert appended.originals.count(None) == len(events)

        started = time.perf_counter()
        await asyncio.gather(*(appender() for _ in range(concurrency)))
        return time.perf_counter() - started

    try:
        seconds = asyncio.run(drive())
    finally:
        store.close()
    return sum(map(len, batches)) / seconds


class TimedConnection:
    """A connection whose statements are timed, by their first words (for the anatomy)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.seconds: dict[str, float] = defaultdict(float)

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        started = time.perf_counter()
        cursor = self.conn.execute(query, params, **kwargs)
        self.seconds[" ".join(str(query).split()[:3])] += time.perf_counter() - started
        return cursor


def anatomy(url: str, workspace_id: int, batches: list[list[ValidEvent]]) -> dict[str, float]:
    """Milliseconds per batch of each step of one append, one transaction at a time, on a
    connection set up as the store's pool does (autocommit, synchronous_commit on)."""
    ids = IdGenerator()
    steps: dict[str, float] = defaultdict(float)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = on")
        timed = TimedConnection(conn)
        for events in batches:
            now = time.time_ns() // 1000
            t0 = time.perf_counter()
            new_ids = ids.batch(len(events), now // 1000)
            batch = event_rows.prepare(workspace_id, events, new_ids, now, now + WEEK_US)
            t1 = time.perf_counter()
            with conn.transaction():
                t2 = time.perf_counter()
                event_rows.insert_events(cast(Connection, timed), batch)
                t3 = time.perf_counter()
            t4 = time.perf_counter()
            steps["ids + prepare (Python)"] += t1 - t0
            steps["BEGIN"] += t2 - t1
            steps["insert_events total"] += t3 - t2
            steps["COMMIT (WAL flush)"] += t4 - t3
        for statement, seconds in timed.seconds.items():
            steps[f"  {statement} …"] += seconds
    statements = sum(timed.seconds.values())
    steps["  Python in insert_events"] = steps["insert_events total"] - statements
    return {step: seconds / len(batches) * 1000 for step, seconds in steps.items()}


# -- the grown store ---------------------------------------------------------------------------


def build_grown(dbs: Databases, rows: int) -> str:
    """A copy of the template holding ``rows`` events made from 8 validated workload batches,
    each with its duplicate-key rows (an insert_id key, live for a week, and a transaction key
    for revenue events), inserted by PostgreSQL itself in key order; then VACUUM ANALYZE."""
    name = dbs.create("grown")
    templates = [e for seed in range(8) for e in valid_events(seed)]
    now = time.time_ns() // 1000
    with psycopg.connect(dbs.url(name), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute(
            "CREATE TEMP TABLE tpl (n int PRIMARY KEY, e text, u text, a text, ts bigint,"
            " p text, txn boolean)"
        )
        with conn.cursor().copy("COPY tpl FROM STDIN") as copy:
            for n, e in enumerate(templates):
                props = None if e.properties is None else e.properties.decode()
                txn = duplicate_keys(e)[0] is not None
                copy.write_row((n, e.event, e.user_id, e.anonymous_id, e.timestamp_us, props, txn))
        conn.execute("ANALYZE tpl")
        serial = "lpad(g::text, 10, '0')"
        event_id = f"'evt_0000000000' || {serial}"
        source = f"FROM generate_series(%s, %s) g JOIN tpl t ON t.n = g %% {len(templates)}"
        chunk = 500_000
        for start in range(1, rows + 1, chunk):
            end = min(rows, start + chunk - 1)
            with conn.transaction():
                conn.execute(
                    "INSERT INTO events (workspace_id, event_id, event, user_id, anonymous_id,"
                    f" timestamp_us, received_us, properties, insert_id) SELECT %s, {event_id},"
                    f" t.e, t.u, t.a, t.ts, %s, t.p, 'ins_g' || {serial} {source} ORDER BY g",
                    (dbs.workspace_id, now, start, end),
                )
                conn.execute(
                    "INSERT INTO dedup_keys (workspace_id, key, event_id, expires_us)"
                    f" SELECT %s, 'i:ins_g' || {serial}, {event_id}, %s"
                    " FROM generate_series(%s, %s) g",
                    (dbs.workspace_id, now + WEEK_US, start, end),
                )
                conn.execute(
                    "INSERT INTO dedup_keys (workspace_id, key, event_id, expires_us)"
                    f" SELECT %s, 't:' || t.e || chr(31) || 'txn_g' || {serial}, {event_id},"
                    f" NULL {source} AND t.txn ORDER BY 2",
                    (dbs.workspace_id, start, end),
                )
            if end % 1_000_000 == 0 or end == rows:
                print(f"   grown store: {end:,} events", flush=True)
        conn.execute("VACUUM ANALYZE events")
        conn.execute("VACUUM ANALYZE dedup_keys")
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(f"   grown store: {size.fetchone()[0]} after VACUUM ANALYZE", flush=True)  # type: ignore[index]
    return name


# -- a served run --------------------------------------------------------------------------------


@dataclass
class Run:
    """One configuration's run: the client's figures, the nodes' RSS, CPU, server counters."""

    events_per_s: float
    p50_ms: float
    p99_ms: float
    rss_mb: list[float]
    cores: dict[str, float]
    pg: dict[str, float]
    batches: int
    stored: int
    rejected: int
    statuses: list[int] = field(default_factory=list)

    @property
    def tail(self) -> float:
        return self.p99_ms / self.p50_ms


def served(
    dbs: Databases, name: str, nodes: int, env: dict[str, str], first: int, count: int
) -> Run:
    """``nodes`` serve processes on ``name``, driven by 8 connections from another process."""
    url = dbs.url(name)
    servers: list[Server] = []
    client: subprocess.Popen[str] | None = None
    try:
        for number in range(nodes):
            servers.append(Server(url, log=OUT / f"{name}.node{number}.log", env=env))
        client = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "client",
                ",".join(s.url for s in servers),
                dbs.key,
                str(first),
                str(count),
                str(CONNECTIONS),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=HERE,
        )
        assert client.stdin is not None and client.stdout is not None
        if client.stdout.readline().strip() != "ready":
            raise RuntimeError("load generator failed before starting")
        before = dbs.stats(name)
        with CpuSampler([s.proc.pid for s in servers], client.pid, name) as cpu:
            client.stdin.write("go\n")
            client.stdin.flush()
            line = client.stdout.readline()
        client.wait(timeout=60)
        if not line:
            raise RuntimeError("load generator failed")
        result = json.loads(line)
        rss = [peak_rss_mb(s.proc.pid) for s in servers]
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait(timeout=20)
        for server in servers:
            server.stop()
    pg = stats_delta(before, dbs.stats(name))  # after the nodes closed: every counter flushed
    return Run(
        result["events_per_s"],
        result["p50_ms"],
        result["p99_ms"],
        rss,
        cpu.cores,
        pg,
        result["batches"],
        result["stored"],
        result["rejected"],
        result["statuses"],
    )


# -- reporting ---------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def show_run(label: str, run: Run) -> None:
    c, pg = run.cores, run.pg
    per_batch = max(run.batches, 1)
    print(
        f"   {label:<16} {run.events_per_s:>8,.0f} ev/s  p50 {run.p50_ms:>4.0f} ms"
        f"  p99 {run.p99_ms:>4.0f} ms ({run.tail:.2f})  RSS "
        + "+".join(f"{mb:.0f}" for mb in run.rss_mb)
        + f" MB | cores: node {c['node']:.2f}, pg {c['pg-db']:.2f}, pg-other"
        f" {c['pg-other']:.2f}, client {c['client']:.2f}, machine {c['machine']:.2f}"
        f" (iowait {c['iowait']:.2f}, steal {c['steal']:.2f}) | per batch:"
        f" {pg['commits'] / per_batch:.1f} xacts, WAL {pg['wal_bytes'] / per_batch / 1024:.0f} KB"
        f" ({pg['wal_fpi'] / per_batch:.0f} FPI), {pg['syncs'] / per_batch:.2f} WAL syncs",
        flush=True,
    )
    if run.statuses != [200] or run.stored != run.batches * 1000 - run.rejected:
        print(f"   !! statuses {run.statuses}, stored {run.stored:,}, rejected {run.rejected:,}")


def bound(runs: list[Run]) -> str:
    """What the CPU samples say limits a configuration (medians over its runs)."""
    cores = {k: median([r.cores[k] for r in runs]) for k in runs[0].cores}
    nodes = len(runs[0].rss_mb)
    cpus = os.cpu_count() or 1
    parts = [
        f"machine {cores['machine']:.2f}/{cpus} cores busy",
        f"node(s) {cores['node']:.2f} ({cores['node'] / nodes:.2f} per node)",
        f"PostgreSQL {cores['pg-db'] + cores['pg-other']:.2f}",
        f"client {cores['client']:.2f}",
    ]
    if cores["machine"] >= 0.9 * cpus:
        verdict = "the machine's CPU is saturated"
    elif cores["node"] / nodes >= 0.85:
        verdict = "each node's one Python core is saturated"
    elif cores["pg-db"] >= 0.85 * cpus / 2:
        verdict = "PostgreSQL backends' CPU"
    else:
        verdict = "no CPU saturated: waits (round trips, WAL flush, GIL hand-offs)"
    return f"{verdict} ({', '.join(parts)})"


def timed(label: str, call: Callable[[], T]) -> T:
    started = time.perf_counter()
    value = call()
    print(f"   ({label}: {time.perf_counter() - started:.0f} s)", flush=True)
    return value


def schedule(names: list[str], rounds: int) -> Iterator[tuple[int, str]]:
    """Every configuration once a round: forward in odd rounds, backward in even ones."""
    for number in range(rounds):
        for name in names if number % 2 == 0 else list(reversed(names)):
            yield number, name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=150, help="1,000-event batches per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each configuration")
    parser.add_argument("--grown", type=int, default=5_000_000, help="events in the grown store")
    parser.add_argument("--anatomy", type=int, default=40, help="batches timed step by step")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    for variable in [v for v in os.environ if v.startswith("FLOKIT_")]:
        del os.environ[variable]  # only what each configuration sets
    run = secrets.token_hex(3)
    prefix = f"flokit-bench:{run}:"
    limiter_on = {"FLOKIT_REDIS_URL": REDIS, "FLOKIT_REDIS_PREFIX": prefix}
    print(
        f"PostgreSQL bench, run {run}: {args.rounds} rounds x {args.batches} batches of 1,000"
        f" events (2% invalid), {CONNECTIONS} connections, {os.cpu_count()} CPUs",
        flush=True,
    )
    started = time.perf_counter()
    dbs = Databases(run)
    try:
        batches = [valid_events(seed) for seed in range(10_000, 10_000 + args.batches)]
        print("0. setup")
        grown = timed("built", lambda: build_grown(dbs, args.grown))
        results = measure(dbs, grown, batches, args, limiter_on)
        summary(results, args)
    finally:
        dbs.close()
        client = redis.Redis.from_url(REDIS)
        deleted = sum(client.delete(key) for key in client.scan_iter(match=f"{prefix}*"))
        client.close()
        print(
            f"cleanup: databases dropped, {deleted} Redis keys deleted;"
            f" {time.perf_counter() - started:.0f} s in all"
        )


CONFIGS = ["store x8", "store x1", "1 node", "1 node + Redis", "2 nodes", "1 node, grown"]
SLUGS = {"1 node": "node1", "1 node + Redis": "node1_redis", "2 nodes": "node2"}


def measure(
    dbs: Databases,
    grown: str,
    batches: list[list[ValidEvent]],
    args: argparse.Namespace,
    limiter_on: dict[str, str],
) -> dict[str, Any]:
    limits: dict[str, list[float]] = defaultdict(list)
    runs: dict[str, list[Run]] = defaultdict(list)
    print("   rounds (each run on a checkpointed server; fresh database unless grown):")
    for number, config in schedule(CONFIGS, args.rounds):
        seed = 3_000_000 + number * args.batches  # the grown store never sees a batch twice
        dbs.checkpoint()
        label = f"r{number + 1} {config}"
        if config.startswith("store"):
            name = dbs.create(f"r{number}_store")
            try:
                concurrency = int(config.split("x")[1])
                rate = store_limit(dbs.url(name), dbs.workspace_id, batches, concurrency)
            finally:
                dbs.drop(name)
            limits[config].append(rate)
            print(f"   {label:<16} {rate:>8,.0f} ev/s (in-process, {concurrency} at a time)")
            continue
        if config.endswith("grown"):
            run = served(dbs, grown, 1, LIMITS_OFF, seed, args.batches)
        else:
            name = dbs.create(f"r{number}_{SLUGS[config]}")
            env = limiter_on if "Redis" in config else LIMITS_OFF
            nodes = 2 if config.startswith("2") else 1
            try:
                run = served(dbs, name, nodes, env, seed, args.batches)
            finally:
                dbs.drop(name)
        runs[config].append(run)
        show_run(label, run)
    print("   anatomy of one append (1 at a time, fresh database), ms per batch:")
    name = dbs.create("anatomy")
    try:
        dbs.checkpoint()
        steps = anatomy(dbs.url(name), dbs.workspace_id, batches[: args.anatomy])
    finally:
        dbs.drop(name)
    for step, ms in steps.items():
        print(f"     {step:<40} {ms:6.2f}")
    return {"limits": limits, "runs": runs}


def summary(results: dict[str, Any], args: argparse.Namespace) -> None:
    limits: dict[str, list[float]] = results["limits"]
    runs: dict[str, list[Run]] = results["runs"]
    rounds = range(args.rounds)

    def rate(config: str, number: int) -> float:
        if config.startswith("store"):
            return limits[config][number]
        return runs[config][number].events_per_s

    def ratio(top: str, bottom: str) -> float:
        return median([rate(top, n) / rate(bottom, n) for n in rounds])

    limit = median(limits["store x8"])
    one = runs["1 node"]
    print("1. store limit (PostgresStore.append in-process, ~980-row transactions):")
    print(
        f"   {limit:,.0f} events/s 8 at a time; {median(limits['store x1']):,.0f} events/s"
        " 1 at a time"
    )
    print("2..5 served, medians over rounds (RSS: max over rounds):")
    for config in CONFIGS[2:]:
        group = runs[config]
        print(
            f"   {config:<15} {median([r.events_per_s for r in group]):>8,.0f} events/s,"
            f" p50 {median([r.p50_ms for r in group]):.0f} ms,"
            f" p99 {median([r.p99_ms for r in group]):.0f} ms,"
            f" p99/p50 {median([r.tail for r in group]):.2f},"
            f" node peak RSS {max(max(r.rss_mb) for r in group):.0f} MB"
        )
        print(f"   {'':<15} bound: {bound(group)}")
    to_limit = ratio("1 node", "store x8")
    two = ratio("2 nodes", "1 node")
    cost = 1 - ratio("1 node + Redis", "1 node")
    growth = ratio("1 node, grown", "1 node")
    tails = {config: median([r.tail for r in runs[config]]) for config in CONFIGS[2:]}
    rows: list[tuple[str, str, str, bool | None]] = [
        ("1. store limit, 8 appends at a time", f"{limit:,.0f} ev/s", "", None),
        ("2. 1 node / store limit", f"{to_limit:.2f}", ">= 0.6", to_limit >= 0.6),
        ("   1 node peak RSS", f"{max(max(r.rss_mb) for r in one):.0f} MB", "", None),
        ("3. 2 nodes / 1 node", f"{two:.2f}", "", None),
        ("4. Redis limiter cost", f"{cost:.1%}", "<= 5%", cost <= 0.05),
        (f"5. grown ({args.grown:,}) / empty, 1 node", f"{growth:.2f}", ">= 0.8", growth >= 0.8),
    ]
    rows += [(f"   p99/p50 {config}", f"{t:.2f}", "<= 3", t <= 3) for config, t in tails.items()]
    print("summary (ratios: median of each round's side-by-side ratio)")
    print(f"   {'figure':<40} {'value':>12} {'target':>8}  holds")
    for label, value, target, holds in rows:
        verdict = "" if holds is None else ("yes" if holds else "NO")
        print(f"   {label:<40} {value:>12} {target:>8}  {verdict}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        client_main(sys.argv[2:])
    else:
        main()
