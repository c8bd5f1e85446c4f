"""A full disk is an outage the service names, end to end: a real ``flokit serve`` with every
SQLite file (events, read models, rate-limit buckets, import uploads) on a small tmpfs the test
mounts and fills. Requests that cannot be stored get 503 + Retry-After saying the disk is full
(never a 500, never a traceback), /readyz says so, and once the filler is deleted ingest and
readiness come back by themselves with every acknowledged event stored."""

from __future__ import annotations

import sqlite3
import time
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import event, fill_disk
from server import Server, cli

#: Enough requests to use up whatever room the WAL still had (each batch is ~150 kB).
MAX_BATCHES = 60
FAILURES_IN_A_ROW = 5
#: Liveness deadline for the projector to catch up: far beyond what it needs.
PROJECTION_DEADLINE_S = 60.0


@dataclass
class Client:
    server: Server
    key: str
    acknowledged: set[str] = field(default_factory=set)

    def batch(self, size: int, **headers: str) -> httpx.Response:
        pad = "x" * 600
        events = [
            event(user_id=f"usr_{uuid.uuid4().hex}", properties={"paywall_id": "pw", "pad": pad})
            for _ in range(size)
        ]
        return self.post("/v1/batch/events", {"events": events}, headers)

    def single(self) -> httpx.Response:
        return self.post("/v1/events", event(user_id=f"usr_{uuid.uuid4().hex}"), {})

    def post(self, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
        response = httpx.post(
            self.server.url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.key}", **headers},
            timeout=60,
        )
        if response.status_code == 200:
            answer = response.json()
            self.acknowledged.update(answer.get("event_ids") or [answer["event_id"]])
        return response

    def upload(self) -> httpx.Response:
        rows = b"event,timestamp\n" + b"app_opened,2024-03-15T14:20:00Z\n" * 20_000
        return httpx.post(
            self.server.url + "/v1/imports",
            content=rows,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "text/csv"},
            timeout=60,
        )

    def readyz(self) -> httpx.Response:
        return httpx.get(self.server.url + "/readyz", timeout=30)


def projected(client: Client, user_id: str) -> bool:
    """Whether the read models take up again after the outage (the projector, started on a
    full disk or failing on one, waited): an event sent now shows up in its user's profile."""
    response = client.post("/v1/events", event(user_id=user_id), {})
    assert response.status_code == 200, response.text
    url = f"{client.server.url}/v1/users/{user_id}"
    headers = {"Authorization": f"Bearer {client.key}"}
    deadline = time.monotonic() + PROJECTION_DEADLINE_S
    while time.monotonic() < deadline:
        if httpx.get(url, headers=headers, timeout=30).status_code == 200:
            return True
        time.sleep(0.2)
    return False


def assert_disk_full(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    answer = response.json()
    assert answer["error"] == "unavailable"
    assert "the disk is full" in answer["message"], answer


@pytest.mark.parametrize(
    "rate_limits",
    # With limits on, the limiter's file is the first write of a request to find the disk
    # full; with them off, the event store's commit is.
    ["true", "false"],
    ids=["limiter-file-first", "event-store-first"],
)
def test_full_disk_is_a_named_503_and_ingest_comes_back(
    small_disk: Path, tmp_path: Path, rate_limits: str
) -> None:
    db = small_disk / "flokit.db"
    key: str = cli(db, "workspaces", "create", "full")["api_key"]
    env = {
        "FLOKIT_DEFAULT_REQUESTS_PER_MINUTE": "1000000",
        "FLOKIT_RATE_LIMITS": rate_limits,
        "FLOKIT_LOG_REQUESTS": "true",
    }
    server = Server(db, log=tmp_path / "server.log", env=env)
    try:
        client = Client(server, key)
        for _ in range(3):
            assert client.batch(50).status_code == 200
        filler = small_disk / "filler"
        fill_disk(filler)

        in_a_row = 0
        for _ in range(MAX_BATCHES):  # 200s are fine while the WAL still has room
            response = client.batch(200)
            if response.status_code == 200:
                in_a_row = 0
                continue
            assert_disk_full(response)
            in_a_row += 1
            if in_a_row == FAILURES_IN_A_ROW:
                break
        assert in_a_row == FAILURES_IN_A_ROW, "the full disk never refused a batch"
        assert_disk_full(client.single())
        retried = client.batch(10, **{"Idempotency-Key": "full-disk-1"})
        assert_disk_full(retried)
        assert_disk_full(client.upload())
        ready = client.readyz()
        assert ready.status_code == 503 and "disk full" in ready.json()["message"], ready.text
        assert "Retry-After" in ready.headers

        filler.unlink()
        ready = client.readyz()
        assert ready.status_code == 200, ready.text
        assert client.batch(200).status_code == 200
        assert client.single().status_code == 200
        retried = client.batch(10, **{"Idempotency-Key": "full-disk-1"})
        assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers
        assert client.upload().status_code == 202
        assert projected(client, "usr_after_the_outage")
    finally:
        server.stop()

    log = server.output()
    assert "Traceback" not in log, log
    assert '"status":500' not in log and '"status":503' in log
    with closing(sqlite3.connect(db)) as conn:
        stored = {row[0] for row in conn.execute("SELECT event_id FROM events")}
    assert client.acknowledged <= stored
