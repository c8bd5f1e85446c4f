"""The crash scenario of issue 3, shared by the e2e test and ``bench/crash.py``.

A two-worker server takes batches with unique Idempotency-Keys and insert_ids from several
connections; every process is ``kill -9``'d mid-load, as soon as a given number of batches have
been acknowledged (counted by the client, never timed); after a restart, every acknowledged
event must be stored once, resending every batch must store nothing twice, and the file must be
sound.
"""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from server import Server, cli


@dataclass
class CrashReport:
    batches: int
    acknowledged: int
    acknowledged_events: list[str] = field(default_factory=list)
    missing_after_crash: int = 0
    stored_after_resend: int = 0
    distinct_sent: int = 0
    duplicated_insert_ids: int = 0
    integrity: str = ""
    resend_statuses: list[int] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return (
            self.missing_after_crash == 0
            and self.duplicated_insert_ids == 0
            and self.stored_after_resend == self.distinct_sent
            and self.integrity == "ok"
            and set(self.resend_statuses) == {200}
        )


def _batch(run: str, number: int, size: int) -> list[dict[str, Any]]:
    return [
        {
            "event": "paywall_viewed",
            "user_id": f"u{i}",
            "timestamp": "2024-03-15T14:20:00Z",
            "insert_id": f"{run}-{number}-{i}",
            "properties": {"paywall_id": "pw"},
        }
        for i in range(size)
    ]


def _post(
    client: httpx.Client, url: str, key: str, run: str, number: int, size: int
) -> httpx.Response:
    return client.post(
        f"{url}/v1/batch/events",
        json={"events": _batch(run, number, size)},
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"{run}-{number}"},
        timeout=60,
    )


def run_crash(
    db: Path,
    *,
    batches: int = 80,
    size: int = 100,
    kill_after_acknowledged: int = 20,
    connections: int = 8,
    seed: int = 0,
) -> CrashReport:
    """Load, kill -9 once ``kill_after_acknowledged`` batches have their 200, restart, check,
    resend, check again. At most ``connections - 1`` more can be acknowledged after that (the
    answers already on their way), so the kill lands mid-load when ``batches`` is larger."""
    workspace = cli(db, "workspaces", "create", "crash")
    cli_args = (
        "workspaces",
        "set-limit",
        workspace["workspace_id"],
        "--requests-per-minute",
        "100000",
    )
    cli(db, *cli_args, json_output=False)
    key, run = workspace["api_key"], f"r{seed}"
    server = Server(db, workers=2)
    acknowledged: dict[int, list[str]] = {}
    lock = threading.Lock()

    def send(number: int) -> None:
        try:
            with httpx.Client() as client:
                response = _post(client, server.url, key, run, number, size)
        except httpx.TransportError:
            return
        if response.status_code != 200:
            return
        with lock:
            acknowledged[number] = response.json()["event_ids"]
            kill_now = len(acknowledged) == kill_after_acknowledged
        if kill_now:
            server.kill()

    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(send, range(batches)))
    server.kill()  # (if fewer batches were acknowledged than the kill waited for)
    report = CrashReport(batches, len(acknowledged))
    report.acknowledged_events = [e for ids in acknowledged.values() for e in ids]
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("SELECT event_id FROM events")}
    report.missing_after_crash = len(set(report.acknowledged_events) - stored)
    restarted = Server(db, workers=2)
    try:
        with httpx.Client() as client:
            report.resend_statuses = [
                _post(client, restarted.url, key, run, n, size).status_code for n in range(batches)
            ]
    finally:
        restarted.stop()
    with sqlite3.connect(db) as conn:
        report.stored_after_resend = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        report.duplicated_insert_ids = conn.execute(
            "SELECT count(*) - count(DISTINCT insert_id) FROM events"
        ).fetchone()[0]
        report.integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    report.distinct_sent = batches * size
    return report
