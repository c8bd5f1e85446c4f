"""Imports end to end: the CLI against a real server, and a kill -9 in the middle of a job."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from imports_helpers import wait_done

from server import FLOKIT, Server, cli, free_port


def write_csv(path: Path, rows: int, bad_every: int = 0) -> int:
    """``rows`` events with unique user ids, timestamps out of order; the count of valid ones."""
    valid = 0
    with path.open("w") as out:
        out.write("event,timestamp,user_id,properties.paywall_id\n")
        for i in range(rows):
            day, hour = 1 + (i * 7919) % 28, (i * 31) % 24
            stamp = f"2024-03-{day:02d}T{hour:02d}:00:00Z"
            if bad_every and i % bad_every == 0:
                stamp = stamp[:10]
            else:
                valid += 1
            out.write(f"paywall_viewed,{stamp},user{i},pw\n")
    return valid


def flokit_import(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FLOKIT, "import", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
    )


def test_cli_import_with_wait(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    key = cli(db, "workspaces", "create", "w")["api_key"]
    data = tmp_path / "events.csv"
    valid = write_csv(data, 500, bad_every=50)
    server = Server(db)
    try:
        done = flokit_import(str(data), "--url", server.url, "--key", key, "--wait")
        again = flokit_import(str(data), "--url", server.url, "--key", key, "--wait")
        dry = flokit_import(str(data), "--url", server.url, "--key", key, "--dry-run")
        refused = flokit_import(
            str(tmp_path / "events.csv"), "--url", server.url, "--key", "fk_rw_bad"
        )
    finally:
        server.stop()
    nobody = f"http://127.0.0.1:{free_port()}"
    unreachable = flokit_import(str(data), "--url", nobody, "--key", key)
    assert unreachable.returncode == 1 and f"could not reach {nobody}" in unreachable.stderr
    assert done.returncode == 0, done.stderr
    assert "completed" in done.stdout and f"{valid:,}" in done.stdout and "10" in done.stdout
    errors = tmp_path / "events.csv.errors.csv"
    assert "rejected rows:" in done.stdout and errors.exists()
    assert len(errors.read_text().splitlines()) == 1 + 10
    assert again.returncode == 0 and "already imported" in again.stdout
    assert dry.returncode == 0 and "queued" in dry.stdout
    assert refused.returncode == 1 and "401" in refused.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (valid,)


@pytest.mark.parametrize("phase", ["validate", "store"])
def test_a_killed_import_resumes_without_loss_or_duplicates(tmp_path: Path, phase: str) -> None:
    db = tmp_path / "resume.db"
    key = cli(db, "workspaces", "create", "w")["api_key"]
    data = tmp_path / "big.csv"
    valid = write_csv(data, 400_000, bad_every=100)
    auth = {"Authorization": f"Bearer {key}"}
    env = {"FLOKIT_IMPORT_STALE_SECONDS": "1"}
    server = Server(db, workers=2, env=env)
    try:
        import_id = _upload(server.url, auth, data)
        job = _wait_for_phase(server.url, auth, import_id, phase)
    finally:
        server.kill()
    assert job["status"] == "running" and job["phase"] == phase, job
    assert 0 < (job["accepted"] if phase == "store" else job["rows_processed"]) < valid, job
    restarted = Server(db, workers=2, env=env)
    try:
        final = wait_done(
            lambda path: httpx.get(f"{restarted.url}{path}", headers=auth), import_id, 120
        )
    finally:
        restarted.stop()
    assert (final["status"], final["accepted"], final["rejected"]) == ("completed", valid, 4000)
    with sqlite3.connect(db) as conn:
        count, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT user_id) FROM events"
        ).fetchone()
        ordered = [r[0] for r in conn.execute("SELECT timestamp_us FROM events ORDER BY seq")]
    assert count == distinct == valid
    assert ordered == sorted(ordered)


def test_two_workspaces_importing_one_file_each_store_it_once(tmp_path: Path) -> None:
    """Two server processes claim jobs from one database: each job runs once (no duplicates,
    no rows twice), and one workspace's rows are never duplicates of another's."""
    db = tmp_path / "two.db"
    keys = [cli(db, "workspaces", "create", name)["api_key"] for name in ("a", "b")]
    data = tmp_path / "shared.csv"
    valid = write_csv(data, 100_000, bad_every=50)
    server = Server(db, workers=2)
    try:
        auths = [{"Authorization": f"Bearer {key}"} for key in keys]
        ids = [_upload(server.url, auth, data) for auth in auths]
        finals = [
            wait_done(lambda path, a=auth: httpx.get(f"{server.url}{path}", headers=a), i, 120)
            for auth, i in zip(auths, ids, strict=True)
        ]
    finally:
        server.stop()
    for final in finals:
        assert (final["status"], final["accepted"], final["duplicates"]) == (
            "completed",
            valid,
            0,
        ), final
    with sqlite3.connect(db) as conn:
        per_workspace = conn.execute(
            "SELECT count(*), count(DISTINCT user_id) FROM events GROUP BY workspace_id"
        ).fetchall()
    assert per_workspace == [(valid, valid), (valid, valid)]


def test_live_ingest_is_answered_while_an_import_is_storing(tmp_path: Path) -> None:
    """The import shares the writer with live batches; they are stored between its slices."""
    db = tmp_path / "live.db"
    key = cli(db, "workspaces", "create", "w")["api_key"]
    data = tmp_path / "big.csv"
    write_csv(data, 400_000)
    auth = {"Authorization": f"Bearer {key}"}
    server = Server(db)
    try:
        import_id = _upload(server.url, auth, data)
        _wait_for_phase(server.url, auth, import_id, "store")
        answered_while_storing = 0
        for n in range(20):
            live = httpx.post(
                f"{server.url}/v1/batch/events",
                json={"events": [_live_event(n, i) for i in range(100)]},
                headers=auth,
                timeout=30,
            )
            assert live.status_code == 200 and live.json()["accepted"] == 100, live.text
            job = httpx.get(f"{server.url}/v1/imports/{import_id}", headers=auth).json()
            answered_while_storing += job["status"] == "running"
        final = wait_done(lambda path: httpx.get(f"{server.url}{path}", headers=auth), import_id)
    finally:
        server.stop()
    assert answered_while_storing >= 3, answered_while_storing
    assert (final["status"], final["accepted"]) == ("completed", 400_000)
    with sqlite3.connect(db) as conn:
        live_rows = conn.execute("SELECT count(*) FROM events WHERE user_id LIKE 'live%'")
        assert live_rows.fetchone() == (2000,)


def _live_event(batch: int, i: int) -> dict[str, Any]:
    return {
        "event": "paywall_viewed",
        "timestamp": "2024-05-01T12:00:00Z",
        "user_id": f"live{batch}_{i}",
        "properties": {"paywall_id": "pw"},
    }


def _upload(url: str, auth: dict[str, str], data: Path) -> str:
    with data.open("rb") as body:
        created = httpx.post(
            f"{url}/v1/imports",
            content=body,
            timeout=60,
            headers={**auth, "Content-Type": "text/csv"},
        )
    assert created.status_code == 202, created.text
    import_id: str = created.json()["import_id"]
    return import_id


def _wait_for_phase(url: str, auth: dict[str, str], import_id: str, phase: str) -> dict[str, Any]:
    """Poll (bounded) until the job has made progress in ``phase``, or has ended."""
    progress = "accepted" if phase == "store" else "rows_processed"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = httpx.get(f"{url}/v1/imports/{import_id}", headers=auth).json()
        if (job["phase"] == phase and job[progress] > 0) or job["status"] in (
            "completed",
            "failed",
        ):
            return job
        time.sleep(0.01)
    raise AssertionError(f"the import never made progress in its {phase} phase")
