"""Shared benchmark helpers: workloads already validated, grown stores, a served run."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from flokit.model import ValidEvent
from flokit.pipeline.ids import IdGenerator
from flokit.pipeline.validate import Validator
from flokit.settings import Settings
from flokit.store import sqlite_events
from flokit.store.sqlite import SqliteStore
from flokit.store.sqlite_readmodels import read_models_path

from server import Server
from workload import batch

OUT = HERE / "out"
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
        rows = sqlite_events.prepare(workspace_id, events, new_ids, now, now + WEEK_US)
        store.write_sync(
            lambda conn, r=rows: sqlite_events.insert_events(conn, r),
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
        remove(f"grown-{rows}.db")
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
    remove("grown-run.")  # its read models too: a stale checkpoint would skip the new events
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


#: The limiter runs but never throttles: benchmarks measure ingest, not the 100/min default.
UNTHROTTLED = {"FLOKIT_DEFAULT_REQUESTS_PER_MINUTE": "1000000000"}


def end_to_end(
    db: Path,
    key: str,
    first_seed: int,
    count: int,
    workers: int = 1,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``flokit serve`` driven by 8 connections from another process; its figures."""
    server_env = {**UNTHROTTLED, **(env or {})}
    server = Server(db, workers=workers, log=db.with_suffix(".serve.log"), env=server_env)
    return drive_then_stop(server, key, first_seed, count)


class Running(Protocol):
    """A server process started for a benchmark: ours (tests/server.py) or the peer's."""

    @property
    def url(self) -> str: ...

    @property
    def proc(self) -> subprocess.Popen[bytes]: ...

    def stop(self) -> None: ...


def drive_then_stop(server: Running, key: str, first_seed: int, count: int) -> dict[str, Any]:
    """``drive`` against a started server, with the server's peak RSS; the server is stopped
    whatever happens."""
    try:
        result = drive(server.url, key, first_seed, count)
        result["server_rss_mb"] = peak_rss_mb(server.proc.pid)
    finally:
        server.stop()
    return result


def drive(url: str, key: str, first_seed: int, count: int) -> dict[str, Any]:
    """``count`` workload batches (from ``first_seed``) posted to ``url`` by 8 connections
    of ``client.py``, in a process of its own; its figures."""
    done = subprocess.run(
        [sys.executable, str(HERE / "client.py"), url, key, str(first_seed), str(count), "8"],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def drive_with_handshake(
    url: str, key: str, seed: int, batches: int, going: threading.Event | None = None
) -> tuple[dict[str, Any], float, float]:
    """client.py with its handshake, so the clock starts once its batches are encoded (which
    takes about a second per 40 batches); ``going`` is set as the load starts."""
    args = [sys.executable, str(HERE / "client.py"), url, key, str(seed), str(batches), "8"]
    with subprocess.Popen(
        [*args, "--handshake"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=HERE,
    ) as client:
        assert client.stdin is not None and client.stdout is not None
        if client.stdout.readline().strip() != "ready":
            raise RuntimeError("client.py did not start")
        started = time.monotonic()
        client.stdin.write("go\n")
        client.stdin.flush()
        if going is not None:
            going.set()
        out = client.stdout.readline()
        ended = time.monotonic()
        if client.wait(timeout=60) != 0:
            raise RuntimeError("client.py failed")
    result: dict[str, Any] = json.loads(out)
    return result, started, ended


def peak_rss_mb(pid: int) -> float:
    """Peak RSS of a process and its children (the workers), added up."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            total += int(line.split()[1]) / 1024
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += peak_rss_mb(int(child))
    return total


def _tree_rss_mb(pid: int) -> float:
    """Current RSS of a process and all its descendants, added up (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
        children = [int(c) for t in tasks for c in (t / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    own = next(
        (int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")),
        0.0,
    )
    return own + sum(_tree_rss_mb(child) for child in children)


class TreeRss:
    """Samples a process tree's total RSS every ``every_s`` (the import's validation processes
    count while they run); ``peak_mb`` is the highest total seen, ``samples`` the series."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        self.pid, self.every_s = pid, every_s
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.every_s):
            self.samples.append((time.monotonic() - started, _tree_rss_mb(self.pid)))

    @property
    def peak_mb(self) -> float:
        return max((mb for _, mb in self.samples), default=0.0)


def remove(name: str) -> None:
    """Delete a database in bench/out with everything beside it (WAL, limits, imports)."""
    for stale in OUT.glob(f"{name}*"):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink()


def snapshot(base: Path, name: str) -> Path:
    """A copy of a projected store (its log and its read models) under ``name``."""
    remove(f"{name}.")
    target = OUT / f"{name}.db"
    for source, copy in ((base, target), (read_models_path(base), read_models_path(target))):
        with sqlite3.connect(source) as conn:  # everything in the file, nothing in a WAL
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        shutil.copyfile(source, copy)
    return target


def fresh_db(name: str) -> tuple[Path, str]:
    """An empty database in bench/out with one workspace; its path and read-write key."""
    OUT.mkdir(exist_ok=True)
    path = OUT / name
    remove(f"{path.stem}.")  # its read models too (``x.read.db``): a stale checkpoint would skip
    store = SqliteStore(path)
    _, issued = store.create_workspace("bench")
    store.close()
    return path, issued.secret


def report(title: str, run: dict[str, Any]) -> None:
    print(
        f"{title}: {run['events_per_s']:,.0f} events/s stored; batch p50 {run['p50_ms']:.0f} ms, "
        f"p99 {run['p99_ms']:.0f} ms; server peak RSS {run['server_rss_mb']:.0f} MB; "
        f"{run['batches']} batches of {run['body_kb']} KB, statuses {run['statuses']}, "
        f"{run['stored']:,} stored, {run['rejected']:,} rejected",
        flush=True,
    )
