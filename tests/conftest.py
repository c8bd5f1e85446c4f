"""Shared fixtures: a real SQLite file per test, the real app in-process, real keys."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from flokit.app import build_app
from flokit.model import KeyKind
from flokit.settings import Settings
from flokit.store import Store, open_store

from backends import BACKENDS, REDIS_URL, postgres_database, redis_prefix
from chromium import browser, context, fresh_page, outside, page  # noqa: F401 (the page tests' fixtures)

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def documented_curl() -> str:
    """The documented cURL example of the batch endpoint (tests/fixtures), comments left out."""
    text = (FIXTURES / "batch-events-curl.sh").read_text()
    return "\n".join(line for line in text.splitlines() if not line.startswith("#"))


def seed_batch() -> dict[str, Any]:
    """The three-event body of the documented cURL example."""
    match = re.search(r"-d '(.*?)'$", documented_curl(), re.S)
    assert match, "the body of the documented cURL example was not found"
    body: dict[str, Any] = json.loads(match.group(1))
    return body


@dataclass
class Api:
    """The app under test with a workspace and its keys."""

    client: TestClient
    store: Store
    settings: Settings
    workspace_id: str
    rw: str
    ro: str

    def headers(self, key: str | None = None, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {key or self.rw}",
            "Content-Type": "application/json",
            **extra,
        }

    def batch(self, events: list[Any], key: str | None = None) -> Any:
        return self.client.post(
            "/v1/batch/events", json={"events": events}, headers=self.headers(key)
        )

    def post(self, path: str, body: bytes, **headers: str) -> Any:
        return self.client.post(path, content=body, headers=self.headers(**headers))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """This run's own PostgreSQL database (created now, dropped at the end)."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def fresh_postgres(postgres_url: str) -> str:
    """The run's database with every table emptied: each test starts from nothing. Sessions an
    earlier test left behind (a node killed with -9, a projector process that has not yet seen
    its server go) are ended first: their locks would deadlock the TRUNCATE."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'flokit_schema'"
            )
        ]
        if tables:
            conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    return postgres_url


@pytest.fixture
def redis_keys() -> Iterator[str]:
    """A key prefix of this test's own on the test Redis, emptied after."""
    with redis_prefix() as prefix:
        yield prefix


def settings_for(backend: str, request: pytest.FixtureRequest, **values: Any) -> Settings:
    """Settings on ``backend`` ("sqlite", "postgresql" or "postgresql+redis") for this test."""
    tmp_path: Path = request.getfixturevalue("tmp_path")
    values = {"db": str(tmp_path / "flokit.db"), "log_requests": False, **values}
    if backend.startswith("postgresql"):
        values["db"] = request.getfixturevalue("fresh_postgres")
        values["imports_dir"] = tmp_path / "imports"
    if backend.endswith("+redis"):
        values.update(redis_url=REDIS_URL, redis_prefix=request.getfixturevalue("redis_keys"))
    return Settings(**values)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every test that uses the store runs once per backend."""
    name: str = request.param
    return name


@pytest.fixture
def settings(backend: str, request: pytest.FixtureRequest) -> Settings:
    return settings_for(backend, request)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = open_store(settings)
    yield opened
    opened.close()


@pytest.fixture
def api(settings: Settings, store: Store) -> Iterator[Api]:
    workspace, issued = store.create_workspace("test")
    read_only = store.create_key(workspace, KeyKind.READ_ONLY)
    with TestClient(build_app(settings, store=store)) as client:
        yield Api(client, store, settings, workspace.public_id, issued.secret, read_only.secret)


def dump_database(settings: Settings) -> str:
    """Every row of every table, as text: to show what the database holds (and does not)."""
    if settings.postgres_url is None:
        with sqlite3.connect(settings.sqlite_path) as conn:
            return "\n".join(conn.iterdump())
    import psycopg

    with psycopg.connect(settings.postgres_url) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return "\n".join(
            str(row)
            for (table,) in tables.fetchall()
            for row in conn.execute(f"SELECT * FROM {table}")
        )


def server_env(settings: Settings) -> dict[str, str]:
    """The environment a ``flokit serve`` process needs beyond ``--db`` for these settings."""
    if settings.redis_url is None:
        return {}
    return {"FLOKIT_REDIS_URL": settings.redis_url, "FLOKIT_REDIS_PREFIX": settings.redis_prefix}


def count_events(settings: Settings) -> int:
    """How many events the settings' database holds, read directly (not through the API)."""
    if settings.postgres_url is None:
        with sqlite3.connect(settings.sqlite_path) as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    import psycopg

    with psycopg.connect(settings.postgres_url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0


def event(name: str = "paywall_viewed", **overrides: Any) -> dict[str, Any]:
    """A valid event of the taxonomy, with fields replaced or (given None) removed."""
    base: dict[str, Any] = {
        "event": name,
        "user_id": "usr_1",
        "timestamp": "2024-03-15T14:20:00Z",
        "properties": dict(PROPERTIES.get(name, {})),
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


PROPERTIES: dict[str, dict[str, Any]] = {
    "paywall_viewed": {"paywall_id": "pw_1"},
    "trial_started": {"plan_id": "plan_1"},
    "subscription_started": {
        "plan_id": "plan_1",
        "revenue": 49.99,
        "currency": "USD",
        "transaction_id": "txn_1",
    },
    "refund_issued": {"revenue": 49.99, "currency": "USD", "transaction_id": "txn_1"},
    "install_attributed": {"campaign_id": "c1", "channel": "meta"},
}


#: The size of ``small_disk``: room for a database, small enough to fill in a moment.
SMALL_DISK = "24m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of its own, unmounted whatever happens; skipped where mounting is refused."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK}", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except FileNotFoundError:
        pytest.skip("no `mount` command here: full-disk tests need a tmpfs of their own")
    if done.returncode != 0:
        pytest.skip(
            f"mounting a tmpfs is not permitted here ({done.stderr.strip()}): full-disk"
            " tests need a small file system of their own to fill (run them as root)"
        )
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], timeout=30, check=True)


def fill_disk(path: Path) -> None:
    """Write ``path`` until the file system refuses another byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        for piece in (1 << 20, 4096, 1):
            try:
                while os.write(fd, b"\0" * piece):
                    pass
            except OSError as exc:
                assert exc.errno == 28, exc  # ENOSPC
    finally:
        os.close(fd)
