"""End to end: real ``flokit serve`` processes over 127.0.0.1, the CLI, crashes."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from flokit.settings import Settings

from conftest import count_events, documented_curl, event
from server import FLOKIT, Server, cli


@pytest.fixture
def db(settings: Settings) -> str:
    """The test's database, once per backend: a SQLite file or a PostgreSQL URL."""
    return settings.db


@pytest.fixture
def workspace(db: str) -> dict[str, Any]:
    created: dict[str, Any] = cli(db, "workspaces", "create", "e2e")
    return created


@pytest.fixture
def server(db: str, tmp_path: Path, workspace: dict[str, Any]) -> Iterator[Server]:
    running = Server(db, log=tmp_path / "server.log")
    yield running
    running.stop()


def send(server: Server, key: str, events: list[Any], **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/batch/events",
        json={"events": events},
        timeout=30,
        headers={"Authorization": f"Bearer {key}", **headers},
    )


def test_documented_curl_example_unchanged_but_host_and_key(
    server: Server, workspace: dict[str, Any]
) -> None:
    command = documented_curl().replace("https://api.flokit.ai", server.url)
    env = {**os.environ, "FLOKIT_API_KEY": workspace["api_key"]}
    done = subprocess.run(
        ["bash", "-c", command + " -sS"], capture_output=True, text=True, env=env, timeout=30
    )
    body = json.loads(done.stdout)
    assert (body["status"], body["accepted"], body["rejected"]) == ("ok", 3, 0)
    without_currency = command.replace('"currency": "USD",', "")
    done = subprocess.run(
        ["bash", "-c", without_currency + " -sS"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    body = json.loads(done.stdout)
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert body["errors"][0]["reason"] == "Missing required field: currency"


def test_first_serve_on_empty_database_creates_a_key(db: str, tmp_path: Path) -> None:
    server = Server(db, log=tmp_path / "server.log")
    try:
        match = re.search(r"fk_rw_[0-9A-Za-z]{32}", server.output())
        assert match, server.output()
        assert send(server, match.group(0), [event()]).json()["accepted"] == 1
    finally:
        server.stop()


def test_cli_keys_and_revocation_on_a_running_server(
    server: Server, db: str, workspace: dict[str, Any]
) -> None:
    ws = workspace["workspace_id"]
    read_only = cli(db, "keys", "create", "--workspace", ws, "--read-only")
    assert read_only["type"] == "read_only" and read_only["api_key"].startswith("fk_ro_")
    assert send(server, read_only["api_key"], [event()]).status_code == 403
    rotated = cli(db, "keys", "rotate", workspace["key_id"])
    assert rotated["type"] == "read_write"
    assert send(server, workspace["api_key"], [event()]).status_code == 401
    assert send(server, rotated["api_key"], [event()]).status_code == 200
    revoke = [*FLOKIT, "keys", "revoke", rotated["key_id"], "--db", str(db)]
    subprocess.run(revoke, check=True, capture_output=True, timeout=60)
    assert send(server, rotated["api_key"], [event()]).status_code == 401
    listed = cli(db, "keys", "list", "--workspace", ws)
    assert [k["revoked_at"] is not None for k in listed] == [True, False, True]


def test_two_workers_share_one_database(
    db: str, tmp_path: Path, workspace: dict[str, Any], settings: Settings
) -> None:
    server = Server(db, workers=2, log=tmp_path / "server.log")
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(
                pool.map(lambda i: send(server, workspace["api_key"], [event()] * 100), range(20))
            )
        assert all(r.status_code == 200 for r in results)
        ids = [i for r in results for i in r.json()["event_ids"]]
        assert len(set(ids)) == 2000
    finally:
        server.stop()
    assert count_events(settings) == 2000
