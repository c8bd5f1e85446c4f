"""FloKit against the obvious implementation (``bench/peer_app.py``: FastAPI + Pydantic, one
SQLite commit per request, the same durability), end to end on ``POST /v1/batch/events``.

Both run under uvicorn with the same worker count and are driven by the same client (8
connections posting pre-encoded 1,000-event batches, ``client.py``); each round posts the same
new batches to each, who goes first rotating, one server running at a time. FloKit runs twice
a round: as served (its projector process on) and with the ingest path alone (projector off:
the peer builds no read models). Printed: each run, the medians, their ratio FloKit / peer
(target >= 2.0) and the median of the rounds' own ratios (a round's runs are back to back, so a
load that drifts over the whole benchmark weighs less on it).

Run: ``make bench`` (or ``cd bench && ../.venv/bin/python peer.py [--batches N] [--rounds N]``).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from common import HERE, OUT, drive_then_stop, end_to_end, fresh_db, remove
from peer_app import create_db
from server import free_port

FIRST_SEED = 2_000_000  # batches no other benchmark posts


class PeerServer:
    """The peer under uvicorn in its own process group, as ``flokit serve`` runs ours."""

    def __init__(self, db: Path, workers: int) -> None:
        self.url = f"http://127.0.0.1:{(port := free_port())}"
        self.log = db.with_suffix(".serve.log")
        command = [sys.executable, "-m", "uvicorn", "peer_app:create_app", "--factory"]
        options = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*command, *options, "--no-access-log", "--log-level", "warning"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PEER_DB": str(db)},
                cwd=HERE,
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the peer did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)


def peer_run(db: Path, key: str, first_seed: int, count: int, workers: int) -> dict[str, Any]:
    return drive_then_stop(PeerServer(db, workers), key, first_seed, count)


def line(name: str, run: dict[str, Any]) -> str:
    return (
        f"{name:14} {run['events_per_s']:>7,.0f} events/s  p50 {run['p50_ms']:5.0f} ms  "
        f"p99 {run['p99_ms']:5.0f} ms  RSS {run['server_rss_mb']:4.0f} MB  "
        f"statuses {run['statuses']}  {run['stored']:,} stored, {run['rejected']:,} rejected"
    )


Contender = Callable[[int], dict[str, Any]]  # first seed -> the run's figures


def contenders(batches: int, workers: int) -> dict[str, Contender]:
    """FloKit as served (its projector process on), FloKit with the ingest path alone (the
    peer builds no read models), and the peer; each on a fresh database of its own."""

    def flokit(name: str, projector: str) -> Contender:
        db, key = fresh_db(f"{name}.db")
        env = {"FLOKIT_PROJECTOR": projector}  # end_to_end never lets the limiter throttle
        return lambda first: end_to_end(db, key, first, batches, workers, env)

    OUT.mkdir(exist_ok=True)  # a fresh clone has no bench/out yet
    remove("peer-fastapi.db")
    peer_db = OUT / "peer-fastapi.db"
    peer_key = create_db(peer_db)
    return {
        "flokit": flokit("peer-flokit", "true"),
        "flokit-noproj": flokit("peer-flokit-noproj", "false"),
        "fastapi": lambda first: peer_run(peer_db, peer_key, first, batches, workers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=100, help="1,000-event batches a run")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each server, in turn")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers, every server")
    args = parser.parse_args()
    servers = contenders(args.batches, args.workers)
    names = list(servers)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    print(f"POST /v1/batch/events, {args.batches} batches a run, {args.workers} worker(s) each")
    for round_no in range(args.rounds):
        first = FIRST_SEED + round_no * args.batches  # the same new batches for each server
        for name in names[round_no % 3 :] + names[: round_no % 3]:  # who goes first rotates
            runs[name].append(run := servers[name](first))
            print(f"round {round_no + 1}: {line(name, run)}", flush=True)
    print("medians")
    medians = {name: _medians(done) for name, done in runs.items()}
    for name, median in medians.items():
        print(
            f"   {name:14} {median['events_per_s']:>7,.0f} events/s  "
            f"p50 {median['p50_ms']:5.0f} ms  p99 {median['p99_ms']:5.0f} ms"
        )
    peer = medians["fastapi"]
    for name in ("flokit", "flokit-noproj"):
        ratio = medians[name]["events_per_s"] / peer["events_per_s"]
        paired = [
            ours["events_per_s"] / theirs["events_per_s"]
            for ours, theirs in zip(runs[name], runs["fastapi"], strict=True)
        ]
        rounds = ", ".join(f"{r:.2f}" for r in paired)
        print(
            f"   {name} / fastapi events/s: {ratio:.2f} (target >= 2.0); round by round:"
            f" median {statistics.median(paired):.2f} ({rounds}); p50 latency"
            f" {peer['p50_ms'] / medians[name]['p50_ms']:.2f}x lower"
        )
    stored = {name: sum(run["stored"] for run in done) for name, done in runs.items()}
    same = "equal" if len(set(stored.values())) == 1 else "DIFFERENT"
    print(f"   events stored from the same batches: {stored} ({same})")


def _medians(done: list[dict[str, Any]]) -> dict[str, float]:
    return {
        field: statistics.median(run[field] for run in done)
        for field in ("events_per_s", "p50_ms", "p99_ms")
    }


if __name__ == "__main__":
    main()
