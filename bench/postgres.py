"""PostgreSQL benchmark: store limit, 1 and 2 nodes over HTTP, the Redis limiter, a 5M-event store.

Run: ``cd bench && ../.venv/bin/python postgres.py [--batches 300] [--rounds 5] [--grown 5000000]``
(about 8 minutes with the defaults on 2 cores).

Everything is measured in this one run, on this machine, side by side. A round runs the
configurations in ``SEQUENCE`` order in odd rounds and backward in even ones, so the machine's
drift falls on all of them alike (the 1-node baseline and the limiter-on run twice a round);
figures are medians, and a ratio is the median over rounds of ratios between runs of the same
round. Each run starts on a checkpointed server and, except on the grown store, a fresh copy
of a migrated database holding one workspace.

- store x8 / x1: the ingest bench's validated batches (~980 accepted rows each) stored through
  ``PostgresStore.append`` in this process, each batch one transaction, 8 appends at a time
  (as the served runs have 8 connections: the store limit) or 1.
- 1 node: ``flokit serve --db postgresql://…`` with ``FLOKIT_RATE_LIMITS=false``, driven over
  HTTP by 8 keep-alive connections from another process with the ingest bench's batches.
- 1 node + Redis: the same with ``FLOKIT_REDIS_URL`` (the workspace's limit set with ``flokit
  workspaces set-limit`` so high that nothing is refused).
- 2 nodes: two serve processes on two ports, connections spread over them.
- 1 node, grown: 1 node on a store built once at the start holding ``--grown`` events (and
  their duplicate-key rows; each round adds its batches to it).

During each run the CPU of the node processes, the load generator, this database's
PostgreSQL backends and PostgreSQL's own processes is sampled from /proc (``elsewhere``: the
rest of the machine, which is shared); transactions, WAL and blocks read come from
pg_stat_database and pg_stat_wal. An anatomy of one append, step by step, ends the runs.

Needs PostgreSQL at 127.0.0.1:5432 (trust, user postgres; databases ``flokit_bench_<run>_*``,
dropped at the end) and Redis at 127.0.0.1:6379 (keys ``flokit-bench:<run>:*``, deleted at
the end). Every process started is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
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

import psycopg
import redis

from flokit.model import Rendered, ValidEvent
from flokit.pipeline.duplicates import duplicate_keys
from flokit.pipeline.ids import IdGenerator
from flokit.store.postgres import PostgresStore
from flokit.store.postgres import events as event_rows
from flokit.store.postgres.connections import Connection
from flokit.store.redis import RedisLimiter, connect_redis

from common import HERE, OUT, WEEK_US, peak_rss_mb, valid_events
from server import Server, cli

PG = "postgresql://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/0"
CONNECTIONS = 8
#: Per-workspace limit for the limiter-on runs: high enough never to refuse.
NEVER_REFUSED = 100_000_000
LIMITS_OFF = {"FLOKIT_RATE_LIMITS": "false"}
SAMPLE_S = 0.25
TICK = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


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
    round: int = 0

    @property
    def tail(self) -> float:
        return self.p99_ms / self.p50_ms

    def cpu_ms(self, group: str) -> float:
        """CPU milliseconds ``group`` spent per batch stored."""
        batches_per_s = self.events_per_s * self.batches / max(self.stored, 1)
        return self.cores[group] / batches_per_s * 1000


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


#: Processes of PostgreSQL that serve no client: the postmaster and its helpers.
PG_AUX = ("walwriter", "checkpointer", "background writer", "autovacuum", "logical rep", "bin/")
GROUPS = ("node", "bench", "pg", "pg-aux", "redis")


class CpuSampler:
    """Cores used while it runs, per group: ``node`` (the serve processes and their children,
    or this process for an in-process run), ``bench`` (the load generator and this process),
    ``pg`` (PostgreSQL backends of this run's database), ``pg-aux`` (WAL writer, checkpointer,
    autovacuum, postmaster), ``redis`` (redis-server), ``elsewhere`` (the machine's other work:
    other databases' backends, other users); ``machine`` is every busy core, ``iowait`` and
    ``steal`` apart."""

    def __init__(self, nodes: list[int], client: int | None, dbname: str) -> None:
        self.nodes, self.bench = set(nodes), {os.getpid(), client} - set(nodes)
        self.marker = f" {dbname} "
        self._base: dict[int, int] = {}
        self._last: dict[int, tuple[str, int]] = {}
        self._groups: dict[int, str | None] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.cores: dict[str, float] = {}

    def _scan(self) -> dict[int, tuple[str, int, int]]:
        found: dict[int, tuple[str, int, int]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
                found[int(entry.name)] = stat
        return found

    def _group(self, pid: int, comm: str, ppid: int) -> str | None:
        if pid not in self._groups:
            group: str | None = None
            if pid in self.nodes or ppid in self.nodes:
                group = "node"
            elif pid in self.bench:
                group = "bench"
            elif comm == "redis-server":
                group = "redis"
            elif comm == "postgres":
                cmdline = _cmdline(pid)
                if self.marker in cmdline:
                    group = "pg"
                elif any(name in cmdline for name in PG_AUX):
                    group = "pg-aux"
            self._groups[pid] = group
        return self._groups[pid]

    def _sample(self, base: bool = False) -> None:
        for pid, (comm, ppid, ticks) in self._scan().items():
            if (group := self._group(pid, comm, ppid)) is not None:
                self._last[pid] = (group, ticks)
                if base:
                    self._base[pid] = ticks

    def __enter__(self) -> CpuSampler:
        self._sample(base=True)
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
            used[group] += ticks - self._base.get(pid, 0)  # a process born meanwhile: from 0
        self.cores = {group: used[group] / TICK / wall for group in GROUPS}
        busy, iowait, steal, total = (
            b - a for a, b in zip(self._machine0, _machine(), strict=True)
        )
        cpus = os.cpu_count() or 1
        for name, ticks in (("machine", busy), ("iowait", iowait), ("steal", steal)):
            self.cores[name] = ticks / total * cpus if total else 0.0
        ours = sum(self.cores[group] for group in GROUPS)
        self.cores["elsewhere"] = max(0.0, self.cores["machine"] - ours)

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

    def stats(self, name: str, settled: bool = False) -> dict[str, float]:
        """Cumulative counters: this database's transactions and blocks read, and the server's
        WAL. ``settled``: first wait for the database's connections to be gone (a backend
        counts its last figures as it exits)."""
        for _ in range(50 if settled else 0):
            row = self.admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                (name, self.admin.info.backend_pid),
            ).fetchone()
            if row is None or row[0] == 0:
                break
            time.sleep(0.1)
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
    dbs: Databases, name: str, batches: list[list[ValidEvent]], concurrency: int
) -> Run:
    """``PostgresStore.append`` in this process, ``concurrency`` appends at a time, each batch
    one transaction, exactly as a served request stores its events (the same method)."""
    store = PostgresStore(dbs.url(name))
    ids = IdGenerator()
    latencies: list[float] = []

    async def drive() -> float:
        work = iter(batches)

        async def appender() -> None:
            for events in work:  # one iterator shared by the appenders
                now = time.time_ns() // 1000
                started = time.perf_counter()
                new_ids = ids.batch(len(events), now // 1000)
                appended = await store.append(
                    dbs.workspace_id, events, new_ids, now, WEEK_US, _render
                )
                latencies.append(time.perf_counter() - started)
                assert appended.originals.count(None) == len(events)

        started = time.perf_counter()
        await asyncio.gather(*(appender() for _ in range(concurrency)))
        return time.perf_counter() - started

    try:
        before = dbs.stats(name)
        with CpuSampler([os.getpid()], None, name) as cpu:
            seconds = asyncio.run(drive())
    finally:
        store.close()
    pg = stats_delta(before, dbs.stats(name, settled=True))
    stored = sum(map(len, batches))
    latencies.sort()
    return Run(
        stored / seconds,
        latencies[len(latencies) // 2] * 1000,
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        [],
        cpu.cores,
        pg,
        len(batches),
        stored,
        len(batches) * 1000 - stored,  # what the validator refused before the clock
        [200],
    )


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

    def cursor(self) -> TimedCursor:
        return TimedCursor(self)


class TimedCursor:
    """A cursor whose COPY is timed as a whole (the events go in by COPY)."""

    def __init__(self, timed: TimedConnection) -> None:
        self.timed = timed

    @contextlib.contextmanager
    def copy(self, statement: str) -> Iterator[Any]:
        started = time.perf_counter()
        with self.timed.conn.cursor().copy(statement) as copy:
            yield copy
        self.timed.seconds[" ".join(statement.split()[:2])] += time.perf_counter() - started


def anatomy(url: str, workspace_id: int, batches: list[list[ValidEvent]]) -> dict[str, float]:
    """Milliseconds per batch of each step of one append, one transaction at a time, on a
    connection set up as the store's pool does (autocommit, synchronous_commit on)."""
    ids = IdGenerator()
    steps: dict[str, float] = defaultdict(float)
    cpu = time.process_time()
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
    steps["CPU of this process, whole append"] = time.process_time() - cpu
    statements = sum(timed.seconds.values())
    steps["  Python in insert_events"] = steps["insert_events total"] - statements
    return {step: seconds / len(batches) * 1000 for step, seconds in steps.items()}


def limiter_decision(prefix: str, calls: int = 2000) -> tuple[float, float]:
    """CPU and wall milliseconds of one ``RedisLimiter.acquire`` in this process, as a node
    makes it once a request (workspace 0, a limit that never refuses)."""

    async def decide() -> tuple[float, float]:
        limiter = RedisLimiter(connect_redis(REDIS), prefix)
        try:
            await limiter.acquire(0, NEVER_REFUSED, time.time())  # the script is loaded
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(calls):
                await limiter.acquire(0, NEVER_REFUSED, time.time())
            return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls
        finally:
            await limiter.aclose()

    cpu_s, wall_s = asyncio.run(decide())
    return cpu_s * 1000, wall_s * 1000


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
        series = "generate_series(%s::bigint, %s::bigint) g"
        source = f"FROM {series} JOIN tpl t ON t.n = g %% {len(templates)}"
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
                    f" FROM {series}",
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
                str(HERE / "client.py"),
                ",".join(s.url for s in servers),
                dbs.key,
                str(first),
                str(count),
                str(CONNECTIONS),
                "--handshake",
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
    pg = stats_delta(before, dbs.stats(name, settled=True))
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
    c, pg, batches = run.cores, run.pg, max(run.batches, 1)
    rss = "+".join(f"{mb:.0f}" for mb in run.rss_mb) + " MB" if run.rss_mb else "-"
    node = "node" if run.rss_mb else "in-process"
    print(
        f"   {label:<17} {run.events_per_s:>7,.0f} ev/s  p50 {run.p50_ms:>4.0f} p99"
        f" {run.p99_ms:>4.0f} ms ({run.tail:.2f})  RSS {rss} | cores: {node} {c['node']:.2f}"
        f" pg {c['pg']:.2f} pg-aux {c['pg-aux']:.2f} redis {c['redis']:.2f} bench"
        f" {c['bench']:.2f} elsewhere"
        f" {c['elsewhere']:.2f} = {c['machine']:.2f} busy, iowait {c['iowait']:.2f} steal"
        f" {c['steal']:.2f} | per batch: {pg['commits'] / batches:.1f} xacts,"
        f" {pg['wal_bytes'] / batches / 1024:.0f} KB WAL ({pg['wal_fpi'] / batches:.0f} FPI),"
        f" {pg['syncs'] / batches:.2f} WAL syncs,"
        f" {pg['blks_read'] / batches:.0f} blocks read/extended",
        flush=True,
    )
    if run.statuses != [200] or run.stored != run.batches * 1000 - run.rejected:
        print(f"   !! statuses {run.statuses}, stored {run.stored:,}, rejected {run.rejected:,}")


def bound(runs: list[Run]) -> str:
    """What the CPU samples say limits a configuration (medians over its runs)."""
    cores = {k: median([r.cores[k] for r in runs]) for k in runs[0].cores}
    nodes, cpus = max(len(runs[0].rss_mb), 1), os.cpu_count() or 1
    names = {"node": "node" if runs[0].rss_mb else "in-process"}
    shares = ", ".join(
        f"{names.get(group, group)} {cores[group]:.2f}"
        for group in (*GROUPS, "elsewhere")
        if cores[group] >= 0.01
    )
    if cores["machine"] >= 0.85 * cpus:
        verdict = f"CPU: all {cpus} cores busy"
    elif cores["node"] / nodes >= 0.85:
        verdict = "CPU of the node's one Python thread"
    else:
        verdict = "no CPU saturated: waits (round trips, WAL flush, GIL hand-offs)"
    return f"{verdict} ({cores['machine']:.2f} busy: {shares})"


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
    parser.add_argument("--batches", type=int, default=300, help="1,000-event batches per run")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each configuration")
    parser.add_argument("--grown", type=int, default=5_000_000, help="events in the grown store")
    parser.add_argument("--anatomy", type=int, default=40, help="batches timed step by step")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    for variable in [v for v in os.environ if v.startswith("FLOKIT_")]:
        del os.environ[variable]  # only what each configuration sets
    run = secrets.token_hex(3)
    prefix = f"flokit-bench:{run}:"
    imports = OUT / f"flokit_bench_{run}_imports"
    os.environ["FLOKIT_IMPORTS_DIR"] = str(imports)  # the nodes' (unused) import files
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
        runs, decision_ms = measure(dbs, grown, batches, args, limiter_on)
        summary(runs, decision_ms, args)
        for log in OUT.glob(f"flokit_bench_{run}_*.log"):
            log.unlink()  # kept only when something failed
    finally:
        dbs.close()
        shutil.rmtree(imports, ignore_errors=True)
        client = redis.Redis.from_url(REDIS)
        deleted = sum(client.delete(key) for key in client.scan_iter(match=f"{prefix}*"))
        client.close()
        print(
            f"cleanup: databases dropped, {deleted} Redis keys deleted;"
            f" {time.perf_counter() - started:.0f} s in all"
        )


#: The run order of a round (backward in even rounds). The 1-node baseline runs twice, each
#: next to a limiter-on run (the 5% target needs the most pairs); the store limit, 2 nodes and
#: the grown store are compared with the mean of the round's two baseline runs.
SEQUENCE = [
    "store x1",
    "2 nodes",
    "store x8",
    "1 node",
    "1 node + Redis",
    "1 node, grown",
    "1 node + Redis",
    "1 node",
]
SERVED = ["1 node", "1 node + Redis", "2 nodes", "1 node, grown"]
SLUGS = {
    "store x8": "store8",
    "store x1": "store1",
    "1 node": "node1",
    "1 node + Redis": "node1_redis",
    "2 nodes": "node2",
}


def measure(
    dbs: Databases,
    grown: str,
    batches: list[list[ValidEvent]],
    args: argparse.Namespace,
    limiter_on: dict[str, str],
) -> tuple[dict[str, list[Run]], float]:
    """Every run of every round, and the CPU milliseconds of one Redis limiter decision."""
    runs: dict[str, list[Run]] = defaultdict(list)
    print("   runs (each on a checkpointed server, a fresh database unless grown):")
    for number, config in schedule(SEQUENCE, args.rounds):
        seed = 3_000_000 + number * args.batches  # the grown store never sees a batch twice
        dbs.checkpoint()
        if config.endswith("grown"):
            run = served(dbs, grown, 1, LIMITS_OFF, seed, args.batches)
        else:
            name = dbs.create(f"r{number}_{SLUGS[config]}")
            try:
                if config.startswith("store"):
                    run = store_limit(dbs, name, batches, int(config.split("x")[1]))
                else:
                    env = limiter_on if "Redis" in config else LIMITS_OFF
                    nodes = 2 if config.startswith("2") else 1
                    run = served(dbs, name, nodes, env, seed, args.batches)
            finally:
                dbs.drop(name)
        run.round = number
        runs[config].append(run)
        show_run(f"r{number + 1} {config}", run)
    print("   anatomy of one append (1 at a time, fresh database), ms per batch:")
    name = dbs.create("anatomy")
    try:
        dbs.checkpoint()
        steps = anatomy(dbs.url(name), dbs.workspace_id, batches[: args.anatomy])
    finally:
        dbs.drop(name)
    for step, ms in steps.items():
        print(f"     {step:<40} {ms:6.2f}")
    cpu_ms, wall_ms = limiter_decision(limiter_on["FLOKIT_REDIS_PREFIX"])
    print(
        f"   one Redis limiter decision (RedisLimiter.acquire in-process): {cpu_ms:.3f} ms CPU,"
        f" {wall_ms:.3f} ms wall"
    )
    return runs, cpu_ms


def summary(runs: dict[str, list[Run]], decision_ms: float, args: argparse.Namespace) -> None:
    rounds = range(args.rounds)

    def of(config: str, number: int) -> list[Run]:
        return [r for r in runs[config] if r.round == number]

    def rate(config: str) -> float:
        return median([r.events_per_s for r in runs[config]])

    def to_baseline(config: str) -> float:
        """Median over rounds of the run's rate / the mean of the round's 1-node runs."""
        return median(
            [
                of(config, n)[0].events_per_s
                / statistics.fmean(r.events_per_s for r in of("1 node", n))
                for n in rounds
            ]
        )

    def limiter_pairs(measure: Callable[[Run], float]) -> float:
        """Median of on/off over the neighbouring pairs (k-th on with k-th off of a round)."""
        return median(
            [
                measure(on) / measure(off)
                for n in rounds
                for on, off in zip(of("1 node + Redis", n), of("1 node", n), strict=True)
            ]
        )

    def tail(config: str) -> float:
        return median([r.tail for r in runs[config]])

    print("medians over every run (RSS: the highest of any node in any run):")
    for config in ["store x8", "store x1", *SERVED]:
        group = runs[config]
        rss = max((max(r.rss_mb) for r in group if r.rss_mb), default=0.0)
        print(
            f"   {config:<15} {rate(config):>7,.0f} events/s, batch p50"
            f" {median([r.p50_ms for r in group]):.0f} ms,"
            f" p99 {median([r.p99_ms for r in group]):.0f} ms; CPU per batch:"
            f" {'node' if rss else 'in-process'} {median([r.cpu_ms('node') for r in group]):.1f}"
            f" ms, pg {median([r.cpu_ms('pg') for r in group]):.1f} ms"
            + (f"; node peak RSS {rss:.0f} MB" if rss else "")
        )
        print(f"   {'':<15} bound: {bound(group)}")
    # The store limit as bench/ingest.py defines SQLite's: one writer, 1,000 rows a
    # transaction. Against 8 appends at a time (both cores busy), for information.
    to_limit = 1 / to_baseline("store x1")
    to_busiest = 1 / to_baseline("store x8")
    two = to_baseline("2 nodes")
    growth = to_baseline("1 node, grown")
    cost = 1 - limiter_pairs(lambda r: r.events_per_s)
    spread = [
        on.events_per_s / off.events_per_s
        for n in rounds
        for on, off in zip(of("1 node + Redis", n), of("1 node", n), strict=True)
    ]
    cpu_cost = limiter_pairs(lambda r: r.cpu_ms("node")) - 1
    decision = decision_ms / median([r.cpu_ms("node") for r in runs["1 node"]])
    one = runs["1 node"]
    rows: list[tuple[str, str, str, bool | None]] = [
        ("1. store limit (1 writer, as ingest.py)", f"{rate('store x1'):,.0f} ev/s", "", None),
        ("   8 appends at a time", f"{rate('store x8'):,.0f} ev/s", "", None),
        ("2. 1 node over HTTP", f"{rate('1 node'):,.0f} ev/s", "", None),
        (
            "   p50 / p99 batch latency",
            f"{median([r.p50_ms for r in one]):.0f} / {median([r.p99_ms for r in one]):.0f} ms",
            "",
            None,
        ),
        ("   node peak RSS", f"{max(max(r.rss_mb) for r in one):.0f} MB", "", None),
        ("   1 node / store limit", f"{to_limit:.2f}", ">= 0.6", to_limit >= 0.6),
        ("   1 node / 8 appends at a time", f"{to_busiest:.2f}", "", None),
        ("3. 2 nodes / 1 node", f"{two:.2f}", "", None),
        ("4. Redis limiter cost, throughput", f"{cost:.1%}", "<= 5%", cost <= 0.05),
        (
            "   on/off of the pairs, lowest - highest",
            f"{min(spread):.2f} - {max(spread):.2f}",
            "",
            None,
        ),
        ("   the same, node CPU per batch", f"{cpu_cost:+.1%}", "", None),
        ("   one decision's CPU / node CPU per batch", f"{decision:.1%}", "", None),
        (
            f"5. grown ({args.grown / 1e6:g}M) / empty, 1 node",
            f"{growth:.2f}",
            ">= 0.8",
            growth >= 0.8,
        ),
    ]
    rows += [(f"   p99/p50 {c}", f"{tail(c):.2f}", "<= 3", tail(c) <= 3) for c in SERVED]
    pairs = sum(len(of("1 node + Redis", n)) for n in rounds)
    print(
        "summary (ratios: medians over rounds of ratios between runs of the same round; the"
        f" limiter over its {pairs} neighbouring on/off pairs)"
    )
    print(f"   {'figure':<40} {'value':>15} {'target':>7}  holds")
    for label, value, target, holds in rows:
        verdict = "" if holds is None else ("yes" if holds else "NO")
        print(f"   {label:<40} {value:>15} {target:>7}  {verdict}")
    print(f"   what saturates with 2 nodes: {bound(runs['2 nodes'])}")


if __name__ == "__main__":
    main()
