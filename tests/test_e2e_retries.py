"""Safe retries and fair limits across real server processes (issue 3)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from flokit.settings import Settings

from backends import ALL_BACKENDS
from conftest import count_events, event, server_env
from crash import run_crash
from server import Server, cli


def headers(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **extra}


def test_kill_9_loses_no_acknowledged_event_and_resending_duplicates_nothing(
    tmp_path: Path,
) -> None:
    report = run_crash(tmp_path / "crash.db", batches=150, kill_after_acknowledged=20)
    assert 20 <= report.acknowledged < report.batches, "the kill should land mid-load"
    assert report.missing_after_crash == 0
    assert report.resend_statuses == [200] * report.batches
    assert report.stored_after_resend == report.distinct_sent
    assert report.duplicated_insert_ids == 0
    assert report.integrity == "ok"


def test_twenty_identical_requests_across_two_workers_store_once(
    settings: Settings, tmp_path: Path
) -> None:
    key = cli(settings.db, "workspaces", "create", "w")["api_key"]
    body = json.dumps({"events": [event(user_id=f"u{i}") for i in range(500)]}).encode()
    server = Server(settings.db, workers=2, log=tmp_path / "server.log")
    try:

        def post(_: int) -> httpx.Response:
            return httpx.post(
                f"{server.url}/v1/batch/events",
                content=body,
                timeout=60,
                headers=headers(key, **{"Idempotency-Key": "same"}),
            )

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(post, range(20)))
    finally:
        server.stop()
    ok = [a for a in answers if a.status_code == 200]
    assert ok and all(a.status_code in (200, 409) for a in answers)
    assert len({a.content for a in ok}) == 1
    assert count_events(settings) == 500


def test_replay_survives_a_restart(settings: Settings, tmp_path: Path) -> None:
    db, log = settings.db, tmp_path / "server.log"
    key = cli(db, "workspaces", "create", "w")["api_key"]
    body = json.dumps({"events": [event(), event(timestamp=None)]}).encode()
    sent = headers(key, **{"Idempotency-Key": "across-restart"})
    server = Server(db, log=log)
    try:
        first = httpx.post(f"{server.url}/v1/batch/events", content=body, headers=sent)
    finally:
        server.stop()
    server = Server(db, log=log)
    try:
        again = httpx.post(f"{server.url}/v1/batch/events", content=body, headers=sent)
    finally:
        server.stop()
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_limit_is_exact_across_two_workers(settings: Settings, tmp_path: Path) -> None:
    db = settings.db
    busy = cli(db, "workspaces", "create", "busy")["api_key"]
    quiet = cli(db, "workspaces", "create", "quiet")["api_key"]
    body = json.dumps({"events": [event()]}).encode()
    server = Server(db, workers=2, log=tmp_path / "server.log", env=server_env(settings))
    try:

        def post(key: str) -> int:
            with httpx.Client() as client:
                return client.post(
                    f"{server.url}/v1/batch/events", content=body, headers=headers(key), timeout=60
                ).status_code

        started = time.monotonic()
        with ThreadPoolExecutor(32) as pool:
            busy_answers = pool.map(post, [busy] * 300)
            quiet_answers = pool.map(post, [quiet] * 20)
            statuses: list[Any] = list(busy_answers)
            quiet_statuses = list(quiet_answers)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    admitted = statuses.count(200)
    refill = int(elapsed * 100 / 60) + 1
    assert 100 <= admitted <= 100 + refill, (admitted, elapsed)
    assert statuses.count(429) == 300 - admitted
    assert quiet_statuses == [200] * 20
