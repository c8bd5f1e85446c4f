"""Identity read models benchmark (issue 12): a store with identity structure, its rebuild,
ingest with the projector on and off, and the read API's latency, on SQLite.

The store: ``--users`` users, each logging in from 1-3 anonymous ids (install_attributed with
campaign and channel, then paywall_viewed, before a linking event that carries both ids),
trials, subscriptions, renewals, refunds and cancellations with unique transaction ids, a tail
of heavy users, some anonymous visitors who never log in, ~1% of anonymous ids later linked by
a second user (conflicts), placeholder ids ("undefined", "guest": the taxonomy wants a user id
on paywall_viewed, so anonymous views carry one of those), and arrival order shuffled against
timestamp order (some events arrive chunks late). bench/people_gen.py makes it (its default
shape), validated by the project's Validator and written through the store's writer, once per
size (cached in bench/out).

Run: ``make bench`` (or ``.venv/bin/python bench/identity.py [--events N] [--users N]``).
Everything is measured in this one run, side by side, on this machine; nothing is asserted.
Results also go to bench/out/identity.json.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import json
import pstats
import random
import shutil
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from flokit.projections.identity import project
from flokit.projections.projector import REBUILD_BATCH
from flokit.store import sqlite_readmodels
from flokit.store.readmodel_sql import LogEvent, ReadModels
from flokit.store.sqlite import SqliteStore

from common import OUT, UNTHROTTLED, drive_with_handshake, remove, snapshot
from people_gen import UserPlan, Writer, anonymous_ids, generate, plan_users
from server import Server

CATCH_UP_S = 1_200  # the longest a live run waits for the projector after ingest stops
TARGETS = {  # from the issue; printed beside the figures, never asserted
    "rebuild_events_per_s": 50_000,
    "live_ratio": 0.9,
    "lag_p99_s": 2.0,
    "users/{id}": 20.0,
    "timeline": 50.0,
    "identity": 100.0,
    "explorer": 100.0,
}


# -- the store --------------------------------------------------------------------------------


def identity_store(events: int, users: int) -> tuple[Path, dict[str, Any]]:
    """The store (built once per size, then reused) and what the queries need to know of it."""
    name = f"identity-{events}-{users}"
    cached, meta = OUT / f"{name}.db", OUT / f"{name}.json"
    if not meta.exists():
        OUT.mkdir(exist_ok=True)
        remove(f"{name}.")
        started = time.perf_counter()
        facts = _build(cached, events, users)
        facts["build_s"] = round(time.perf_counter() - started, 1)
        meta.write_text(json.dumps(facts))
    return cached, json.loads(meta.read_text())


def _build(path: Path, events: int, users: int) -> dict[str, Any]:
    rng = random.Random(12)
    plans = plan_users(rng, users, events)
    store = SqliteStore(path)
    workspace, issued = store.create_workspace("bench")
    written = generate(Writer(store, workspace.id, "identity store"), plans, rng)
    store.close()
    return _meta(rng, plans, issued.secret, written)


def _meta(rng: random.Random, plans: list[UserPlan], key: str, written: int) -> dict[str, Any]:
    heavy = sorted(plans, key=lambda p: p.core + p.extras, reverse=True)[:300]
    sample = rng.sample(plans, min(2_000, len(plans)))
    return {
        "key": key,
        "events": written,
        "users": len(plans),
        "anonymous_ids": sum(p.devices + p.stray for p in plans),
        "borrowed_links": sum(p.borrow for p in plans),
        "heavy_users": [p.user for p in heavy],
        "heavy_events": [p.core + p.extras for p in heavy],
        "sample_users": [p.user for p in sample],
        "sample_anons": [rng.choice(anonymous_ids(p)) for p in sample],
    }


# -- rebuild ----------------------------------------------------------------------------------


def fresh_copy(cached: Path, name: str) -> Path:
    """A copy of the cached log under ``name`` in bench/out, with no read models beside it."""
    remove(f"{name}.")
    target = OUT / f"{name}.db"
    shutil.copyfile(cached, target)
    return target


@dataclass(slots=True)
class Split:
    """Where a rebuild's time goes: the projector's log read, its commit, and within the
    projection the read-model SQL (by statement) and the rest, Python per-event work."""

    log_read: float = 0.0
    apply: float = 0.0
    commit: float = 0.0
    sql: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    in_apply: bool = False

    def shares(self) -> dict[str, float]:
        total = self.log_read + self.apply + self.commit
        reads = sum(v for k, v in self.sql.items() if k.startswith("SELECT"))
        writes = sum(self.sql.values()) - reads
        parts = {
            "log read (events table)": self.log_read,
            "Python per-event work": self.apply - reads - writes,
            "read-model SQL reads": reads,
            "read-model SQL writes": writes,
            "commit": self.commit,
        }
        return {name: seconds / total for name, seconds in parts.items()}


def _label(sql: str) -> str:
    words = sql.replace("(", " ").split()
    for before, word in itertools.pairwise(words):
        if before.upper() in ("FROM", "INTO", "UPDATE"):
            return f"{words[0].upper()} {word}"
    return words[0].upper()


@contextmanager
def timed_sql(split: Split) -> Iterator[None]:
    """Time every read-model statement the projection runs (a few per rebuild batch)."""
    db = sqlite_readmodels.SqliteDb
    originals = {name: getattr(db, name) for name in ("rows", "many")}

    def timed(run: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, sql: str, params: Any = ()) -> Any:
            started = time.perf_counter()
            try:
                return run(self, sql, params)
            finally:
                if split.in_apply:
                    split.sql[_label(sql)] += time.perf_counter() - started

        return wrapper

    for name, run in originals.items():
        setattr(db, name, timed(run))
    try:
        yield
    finally:
        for name, run in originals.items():
            setattr(db, name, run)


def timed_rebuild(store: SqliteStore, split: Split) -> tuple[int, float, list[tuple[int, float]]]:
    """``catch_up``'s loop (batches of REBUILD_BATCH) with the time split recorded: events,
    seconds, and (events, seconds) per batch."""
    marks: dict[str, float] = {}

    def apply(models: ReadModels, events: list[LogEvent]) -> None:
        marks["in"] = time.perf_counter()
        split.in_apply = True
        try:
            project(models, events)
        finally:
            split.in_apply = False
            marks["out"] = time.perf_counter()

    batches: list[tuple[int, float]] = []
    started = time.perf_counter()
    with timed_sql(split):
        while True:
            begun = time.perf_counter()
            done = store.project_next(REBUILD_BATCH, apply)
            ended = time.perf_counter()
            if not done:
                break
            split.log_read += marks["in"] - begun
            split.apply += marks["out"] - marks["in"]
            split.commit += ended - marks["out"]
            batches.append((done, ended - begun))
    return sum(n for n, _ in batches), time.perf_counter() - started, batches


def profile_rebuild(store: SqliteStore, events: int) -> tuple[int, list[dict[str, Any]]]:
    """cProfile over the first ``events`` of a rebuild: the top functions by cumulative time."""
    store.reset_read_models()
    profile, done = cProfile.Profile(), 0
    profile.enable()
    while done < events and (n := store.project_next(REBUILD_BATCH, project)):
        done += n
    profile.disable()
    stats = pstats.Stats(profile, stream=io.StringIO()).stats  # type: ignore[attr-defined]
    rows = [
        {"function": _where(where), "calls": calls, "tottime_s": tot, "cumtime_s": cum}
        for where, (_, calls, tot, cum, _) in stats.items()
    ]
    rows.sort(key=lambda r: r["cumtime_s"], reverse=True)
    by_self = sorted(rows, key=lambda r: r["tottime_s"], reverse=True)[:8]
    return done, [*rows[:10], *({**r, "by": "tottime"} for r in by_self)]


def _where(where: tuple[str, int, str]) -> str:
    path, line, name = where
    if path == "~":
        return name
    short = "/".join(Path(path).parts[-2:])
    return f"{short}:{line}({name})"


def rebuild(cached: Path, profile_events: int) -> dict[str, Any]:
    db = fresh_copy(cached, "identity-run")
    store = SqliteStore(db)
    try:
        profiled, profile = profile_rebuild(store, profile_events)
        store.reset_read_models()
        split = Split()
        events, seconds, batches = timed_rebuild(store, split)
    finally:
        store.close()
    return {
        "db": str(db),
        "events": events,
        "seconds": seconds,
        "events_per_s": events / seconds,
        "tenths_events_per_s": _tenths(batches),
        "shares": split.shares(),
        "sql_s": dict(sorted(split.sql.items(), key=lambda item: -item[1])),
        "profiled_events": profiled,
        "profile": profile,
    }


def _tenths(batches: list[tuple[int, float]]) -> list[float]:
    """The rebuild's rate over each tenth of its batches (does it slow as the models grow?)."""
    size = max(1, len(batches) // 10)
    groups = [batches[i : i + size] for i in range(0, len(batches), size)]
    return [sum(n for n, _ in g) / sum(s for _, s in g) for g in groups]


# -- live -------------------------------------------------------------------------------------


class LagPoller:
    """Reads ``/metrics`` every 100 ms: (time, lag in events, lag in seconds) samples."""

    def __init__(self, url: str, every_s: float = 0.1) -> None:
        self.url, self.every_s = f"{url}/metrics", every_s
        self.samples: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.wait(self.every_s):
                values = _gauges(client.get(self.url).text)
                self.samples.append(
                    (
                        time.monotonic(),
                        values["flokit_projection_lag_events"],
                        values["flokit_projection_lag_seconds"],
                    )
                )

    def wait_caught_up(self, since: float, timeout_s: float) -> float | None:
        """Seconds from ``since`` to the first sample with no lag (None: not within timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            done = [t for t, events, _ in self.samples if t > since and events == 0]
            if done:
                return done[0] - since
            time.sleep(self.every_s)
        return None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _gauges(text: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("flokit_projection_"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def live_run(db: Path, key: str, seed: int, batches: int, projector: bool) -> dict[str, Any]:
    """One ingest run of ``batches`` 1,000-event batches over 8 connections (client.py), with
    ``/metrics`` polled throughout; with the projector on, until it has caught up."""
    env = {**UNTHROTTLED, "FLOKIT_PROJECTOR": str(projector).lower()}
    server = Server(db, log=OUT / "identity-live.serve.log", env=env)
    try:
        poller = LagPoller(server.url)
        try:
            result, started, ended = drive_with_handshake(server.url, key, seed, batches)
            caught_up = poller.wait_caught_up(ended, CATCH_UP_S) if projector else None
        finally:
            poller.stop()
    finally:
        server.stop()
    during = [lag_s for t, _, lag_s in poller.samples if started <= t <= ended]
    at_end = [(events, lag_s) for t, events, lag_s in poller.samples if t <= ended]
    return {
        "projector": projector,
        "events_per_s": result["events_per_s"],
        "stored": result["stored"],
        "batch_p99_ms": result["p99_ms"],
        "lag_samples": len(during),
        "lag_p99_s": _quantile(during, 0.99) if during else None,
        "lag_max_s": max(during, default=None),
        "lag_at_end_events": at_end[-1][0] if at_end else None,
        "lag_at_end_s": at_end[-1][1] if at_end else None,
        "catch_up_s": caught_up,
        "projector_events_per_s": (at_end[-1][0] / caught_up) if caught_up and at_end else None,
    }


def live(base: Path, key: str, batches: int, runs: int) -> dict[str, Any]:
    """Interleaved runs, off, on, off, on, ..., each on a fresh copy of the projected store."""
    done: list[dict[str, Any]] = []
    for i in range(runs):
        for projector in (False, True):
            db = snapshot(base, "identity-live")
            seed = 2_000_000 + len(done) * batches
            run = live_run(db, key, seed, batches, projector)
            print(f"   run {i + 1} projector {'on ' if projector else 'off'}: {_run_text(run)}")
            done.append(run)
    remove("identity-live.")
    off = _median([r["events_per_s"] for r in done if not r["projector"]])
    on_runs = [r for r in done if r["projector"]]
    on = _median([r["events_per_s"] for r in on_runs])
    caught = [r["catch_up_s"] for r in on_runs if r["catch_up_s"] is not None]
    return {
        "runs": done,
        "off_events_per_s": off,
        "on_events_per_s": on,
        "ratio": on / off,
        "lag_p99_s": max(r["lag_p99_s"] or 0.0 for r in on_runs),
        "lag_p99_median_s": _median([r["lag_p99_s"] or 0.0 for r in on_runs]),
        "lag_at_end_s": _median([r["lag_at_end_s"] or 0.0 for r in on_runs]),
        "lag_at_end_events": _median([r["lag_at_end_events"] or 0.0 for r in on_runs]),
        "catch_up_s": _median(caught) if len(caught) == len(on_runs) else None,
        "projector_events_per_s": _median([r["projector_events_per_s"] or 0.0 for r in on_runs]),
    }


def _run_text(run: dict[str, Any]) -> str:
    text = f"{run['events_per_s']:,.0f} events/s stored, batch p99 {run['batch_p99_ms']:,.0f} ms"
    if not run["projector"]:
        return text
    caught = run["catch_up_s"]
    return (
        f"{text}; lag p99 {run['lag_p99_s']:.2f} s, {run['lag_at_end_events']:,.0f} events"
        f" ({run['lag_at_end_s']:.1f} s) behind when ingest stopped, caught up "
        + (f"{caught:.1f} s later" if caught is not None else f"not within {CATCH_UP_S} s")
    )


# -- queries ----------------------------------------------------------------------------------


def query_paths(meta: dict[str, Any], n: int, rng: random.Random) -> dict[str, list[str]]:
    """``n`` request paths for each query, of values that match and that match nothing."""
    users, anons, heavy = meta["sample_users"], meta["sample_anons"], meta["heavy_users"]
    names = ["paywall_viewed", "install_attributed", "trial_started", "refund_issued"]
    pick = rng.choice
    return {
        "users/{id}": [f"/v1/users/{pick(users)}" for _ in range(n)],
        "timeline, heavy users": [f"/v1/users/{pick(heavy)}/events?limit=100" for _ in range(n)],
        "timeline, random users": [f"/v1/users/{pick(users)}/events?limit=100" for _ in range(n)],
        "identity": ["/v1/identity"] * n,
        "events?user_id= match": [f"/v1/events?user_id={pick(users)}" for _ in range(n)],
        "events?user_id= none": [f"/v1/events?user_id=nobody_{i}" for i in range(n)],
        "events?anonymous_id= match": [f"/v1/events?anonymous_id={pick(anons)}" for _ in range(n)],
        "events?anonymous_id= none": [f"/v1/events?anonymous_id=nobody_{i}" for i in range(n)],
        "events?event= match": [f"/v1/events?event={pick(names)}" for _ in range(n)],
        "events?event= none": [f"/v1/events?event=never_happened_{i}" for i in range(n)],
    }


def target_of(name: str) -> float:
    if name.startswith("timeline"):
        return TARGETS["timeline"]
    if name.startswith("events?"):
        return TARGETS["explorer"]
    return TARGETS[name]


def queries(db: Path, key: str, meta: dict[str, Any], n: int, budget_s: float) -> dict[str, Any]:
    """p50/p99 of each query against a real ``flokit serve`` whose projector is caught up."""
    paths = query_paths(meta, n, random.Random(7))
    server = Server(db, log=OUT / "identity-queries.serve.log", env=UNTHROTTLED)
    results: dict[str, Any] = {}
    try:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            _wait_projected(client)
            for some in paths.values():  # warm-up, not counted
                for path in some[:3]:
                    client.get(path)
            for name, some in paths.items():
                results[name] = _measure(client, some, budget_s)
    finally:
        server.stop()
    return results


def _wait_projected(client: httpx.Client, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _gauges(client.get("/metrics").text)["flokit_projection_lag_events"] == 0:
            return
        time.sleep(0.5)
    raise RuntimeError("the projector did not catch up")


def _measure(client: httpx.Client, paths: list[str], budget_s: float) -> dict[str, Any]:
    """Latencies of ``paths`` in turn; a query far over its target stops after ``budget_s``
    (at least 30 requests), so one slow plan cannot hold the shared machine for an hour."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    empty, deadline = 0, time.monotonic() + budget_s
    for path in paths:
        if len(latencies) >= 30 and time.monotonic() > deadline:
            break
        started = time.perf_counter()
        response = client.get(path)
        latencies.append((time.perf_counter() - started) * 1000)
        statuses[response.status_code] += 1
        body = response.json()
        empty += isinstance(body, dict) and body.get("events") == []
    return {
        "n": len(latencies),
        "p50_ms": _quantile(latencies, 0.5),
        "p99_ms": _quantile(latencies, 0.99),
        "max_ms": max(latencies),
        "statuses": dict(statuses),
        "empty_pages": empty,
        "stopped_at_budget": len(latencies) < len(paths),
    }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _median(values: list[float]) -> float:
    return _quantile(values, 0.5) if len(values) % 2 else sum(_middle(values)) / 2


def _middle(values: list[float]) -> list[float]:
    ordered = sorted(values)
    return ordered[len(ordered) // 2 - 1 : len(ordered) // 2 + 1]


# -- report -----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_store(meta: dict[str, Any]) -> None:
    print(
        f"1. store: {meta['events']:,} events, {meta['users']:,} users,"
        f" {meta['anonymous_ids']:,} anonymous ids, {meta['borrowed_links']:,} links from an"
        f" earlier user's anonymous id (conflicts); heaviest user {meta['heavy_events'][0]:,}"
        f" events; built in {meta['build_s']:,.0f} s (cached in bench/out)",
        flush=True,
    )


def print_rebuild(r: dict[str, Any]) -> None:
    target = TARGETS["rebuild_events_per_s"]
    print(
        f"2. rebuild: {r['events']:,} events in {r['seconds']:.1f} s ="
        f" {r['events_per_s']:,.0f} events/s (target >= {target:,}:"
        f" {verdict(r['events_per_s'] >= target)})"
    )
    tenths = " ".join(f"{rate / 1000:.0f}k" for rate in r["tenths_events_per_s"])
    print(f"   events/s by tenth of the log: {tenths}")
    shares = ", ".join(f"{name} {share:.0%}" for name, share in r["shares"].items())
    print(f"   time split: {shares}")
    total = r["seconds"]
    top = ", ".join(f"{label} {s / total:.0%}" for label, s in list(r["sql_s"].items())[:6])
    print(f"   read-model SQL by statement: {top}")
    bound, share = max(r["shares"].items(), key=lambda item: item[1])
    print(f"   bound by: {bound} ({share:.0%} of the rebuild)")
    print(f"   cProfile, first {r['profiled_events']:,} events of a rebuild (by cumulative time):")
    for row in r["profile"]:
        tag = " [by own time]" if row.get("by") else ""
        print(
            f"     {row['cumtime_s']:7.2f} s cum {row['tottime_s']:7.2f} s own"
            f" {row['calls']:>9,} calls  {row['function']}{tag}"
        )


def print_live(r: dict[str, Any], batches: int) -> None:
    ratio_ok = r["ratio"] >= TARGETS["live_ratio"]
    lag_ok = r["lag_p99_s"] <= TARGETS["lag_p99_s"]
    print(
        f"   median events/s stored: projector off {r['off_events_per_s']:,.0f},"
        f" on {r['on_events_per_s']:,.0f}; on/off {r['ratio']:.2f}"
        f" (target >= {TARGETS['live_ratio']}: {verdict(ratio_ok)})"
    )
    caught = r["catch_up_s"]
    print(
        f"   lag p99 while ingesting (/metrics every 100 ms): worst run {r['lag_p99_s']:.2f} s,"
        f" median run {r['lag_p99_median_s']:.2f} s (target <= {TARGETS['lag_p99_s']} s:"
        f" {verdict(lag_ok)})"
    )
    print(
        f"   when ingest stopped: {r['lag_at_end_events']:,.0f} events ({r['lag_at_end_s']:.1f} s)"
        " behind, caught up "
        + (f"{caught:.1f} s later" if caught is not None else f"not within {CATCH_UP_S} s")
        + f" (projector alone: {r['projector_events_per_s']:,.0f} events/s); medians of runs of"
        f" {batches} batches"
    )


def print_queries(results: dict[str, Any]) -> None:
    for name, r in results.items():
        target = target_of(name)
        statuses = ",".join(f"{s}x{n}" for s, n in sorted(r["statuses"].items()))
        print(
            f"   {name:<28} p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms"
            f"  max {r['max_ms']:6.1f} ms  (p99 target <= {target:.0f} ms:"
            f" {verdict(r['p99_ms'] <= target)}; {r['n']} requests"
            + (" [stopped at the time budget]" if r["stopped_at_budget"] else "")
            + f", statuses {statuses}, {r['empty_pages']} empty pages)"
        )


PHASES = ("rebuild", "queries", "live")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5_000_000, help="events in the store")
    parser.add_argument("--users", type=int, default=500_000, help="users in the store")
    parser.add_argument("--batches", type=int, default=300, help="1,000-event batches a live run")
    parser.add_argument("--runs", type=int, default=3, help="live runs of each (off, on)")
    parser.add_argument("--requests", type=int, default=300, help="requests per query")
    parser.add_argument("--budget-s", type=float, default=180, help="most seconds per query")
    parser.add_argument("--profile-events", type=int, default=400_000, help="events profiled")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help="which to run; without rebuild, the store the last rebuild left is used",
    )
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    cached, meta = identity_store(args.events, args.users)
    print_store(meta)
    results: dict[str, Any] = {"args": vars(args), "targets": TARGETS}
    results["store"] = {k: v for k, v in meta.items() if not isinstance(v, list) and k != "key"}
    db = OUT / "identity-run.db"
    if "rebuild" in phases:
        results["rebuild"] = rebuild(cached, args.profile_events)
        print_rebuild(results["rebuild"])
    elif not db.exists():
        raise SystemExit("no projected store in bench/out: run the rebuild phase first")
    if "queries" in phases:
        print(f"3. queries on the projected store via flokit serve ({args.requests} each):")
        results["queries"] = queries(db, meta["key"], meta, args.requests, args.budget_s)
        print_queries(results["queries"])
    if "live" in phases:
        print(f"4. live ingest, projector off vs on, interleaved ({args.runs} runs of each):")
        results["live"] = live(db, meta["key"], args.batches, args.runs)
        print_live(results["live"], args.batches)
    (OUT / "identity.json").write_text(json.dumps(results, indent=1))
    print("   results: bench/out/identity.json")


if __name__ == "__main__":
    main()
