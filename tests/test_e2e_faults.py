"""Faults at the seams, end to end on real ``flokit serve`` processes: PostgreSQL or Redis
missing at start, a schema from a newer FloKit, and either one lost while serving (through a
relay that is cut and restored, so the shared services themselves are never touched)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from relay import Relay

from flokit.store.postgres.schema import latest_version, migrate

from backends import REDIS_URL, postgres_database
from conftest import event
from server import FLOKIT, Server, cli, free_port

#: Liveness deadline for recovery: far beyond what it needs; only a hang reaches it.
RECOVERY_DEADLINE_S = 60.0
#: Rate limits stay on (the limiter is a seam too) but never decide an answer here.
NODE_ENV = {"FLOKIT_DEFAULT_REQUESTS_PER_MINUTE": "1000000", "FLOKIT_BUSY_TIMEOUT_MS": "1000"}


def clean_env() -> dict[str, str]:
    """This environment without FLOKIT_* settings: only the command line names the backends."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FLOKIT_")}


def refused(*args: str) -> str:
    """Run ``flokit *args``, which must refuse: non-zero exit, no traceback, one stderr line
    (returned). A command that starts serving instead runs into the timeout and fails."""
    done = subprocess.run(
        [*FLOKIT, *args], capture_output=True, text=True, timeout=60, env=clean_env()
    )
    shown = f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    assert done.returncode != 0, shown
    assert "Traceback" not in done.stderr + done.stdout, shown
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, shown
    return lines[0]


def with_port(url: str, port: int) -> str:
    """``url`` with its host:port replaced by 127.0.0.1:``port`` (user and path kept)."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


def target_of(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def wait_until(condition: Callable[[], bool], deadline_s: float = RECOVERY_DEADLINE_S) -> None:
    """Poll a condition that must become true (liveness: the deadline is far)."""
    end = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < end, "never happened"
        time.sleep(0.1)


# -- refusing to start -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["serve"], ["db", "migrate"], ["workspaces", "create", "x"]],
    ids=["serve", "db-migrate", "workspaces-create"],
)
def test_postgresql_unreachable_at_start_is_one_line(command: list[str]) -> None:
    port = free_port()  # nothing listens there
    line = refused(*command, "--db", f"postgresql://postgres@127.0.0.1:{port}/x")
    assert "PostgreSQL" in line and f"127.0.0.1:{port}" in line, line


def test_redis_unreachable_at_start_is_one_line(fresh_postgres: str) -> None:
    cli(fresh_postgres, "workspaces", "create", "w")  # no bootstrap key to print
    port = free_port()
    line = refused(
        "serve", "--db", fresh_postgres, "--redis", f"redis://127.0.0.1:{port}", "--port", "0"
    )
    assert "Redis" in line and f"127.0.0.1:{port}" in line, line


def test_redis_unreachable_at_start_leaves_an_empty_database_untouched(
    fresh_postgres: str,
) -> None:
    port = free_port()
    line = refused(
        "serve", "--db", fresh_postgres, "--redis", f"redis://127.0.0.1:{port}", "--port", "0"
    )
    assert "Redis" in line and f"127.0.0.1:{port}" in line, line
    with psycopg.connect(fresh_postgres) as conn:
        assert conn.execute("SELECT count(*) FROM workspaces").fetchone() == (0,)


@pytest.fixture
def newer_schema() -> Iterator[str]:
    """A database of its own (the run's shared one must keep its schema) that a FloKit one
    version newer has migrated."""
    with postgres_database() as url:
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO flokit_schema (version) VALUES (%s)", (latest_version() + 1,))
        yield url


@pytest.mark.parametrize(
    "command", [["serve", "--port", "0"], ["db", "migrate"]], ids=["serve", "db-migrate"]
)
def test_a_schema_newer_than_the_node_is_refused_in_one_line(
    newer_schema: str, command: list[str]
) -> None:
    line = refused(*command, "--db", newer_schema)
    newer, known = latest_version() + 1, latest_version()
    assert f"version {newer}" in line and f"up to {known}" in line and "upgrade" in line, line
    with psycopg.connect(newer_schema) as conn:
        assert conn.execute("SELECT max(version) FROM flokit_schema").fetchone() == (newer,)
        assert conn.execute("SELECT count(*) FROM workspaces").fetchone() == (0,)


# -- lost while serving ----------------------------------------------------------------------


@dataclass
class Node:
    """One serving node and what it acknowledged."""

    server: Server
    key: str
    acknowledged: set[str] = field(default_factory=set)  # insert_ids answered with 200

    def post(self, n: int, **headers: str) -> httpx.Response:
        """Batch ``n`` (five events, insert_ids ``ins_<n>_<i>``); a 200 is noted."""
        answer = httpx.post(
            f"{self.server.url}/v1/batch/events",
            json={"events": batch(n)},
            headers={"Authorization": f"Bearer {self.key}", **headers},
            timeout=60,
        )
        if answer.status_code == 200:
            self.acknowledged |= {e["insert_id"] for e in batch(n)}
        return answer

    def ready(self) -> httpx.Response:
        return httpx.get(f"{self.server.url}/readyz", timeout=60)


def batch(n: int) -> list[dict[str, Any]]:
    return [event(user_id=f"u{n}_{i}", insert_id=f"ins_{n}_{i}") for i in range(5)]


def stored_insert_ids(db: str) -> list[str]:
    """Read straight from PostgreSQL, not through the node under test."""
    with psycopg.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT insert_id FROM events")]


def ride_out_an_outage(node: Node, relay: Relay, db: str, service: str) -> None:
    """Cut ``service``'s relay under a serving node: every ingest is a clean 503 and readiness
    names the service; restored, the same process serves again and exactly the acknowledged
    events are stored, none of a refused batch, until it is sent again."""
    assert node.post(0).status_code == 200
    relay.cut()
    outage = [
        node.post(1),
        node.post(2, **{"Idempotency-Key": "during-outage"}),
        node.post(3),
    ]
    for answer in outage:
        assert answer.status_code == 503, answer.text  # never 500
        assert int(answer.headers["Retry-After"]) >= 1
        assert answer.json()["error"] == "unavailable", answer.text
        assert "nothing was stored" in answer.json()["message"], answer.text
    ready = node.ready()
    assert ready.status_code == 503, ready.text
    assert f"{service}:" in ready.json()["message"], ready.text
    assert sorted(stored_insert_ids(db)) == sorted(node.acknowledged)  # nothing half-stored

    relay.start()
    wait_until(lambda: node.ready().status_code == 200)
    assert node.server.proc.poll() is None  # the same process, never restarted
    assert node.post(4).status_code == 200
    resent = node.post(2, **{"Idempotency-Key": "during-outage"})  # a 503 is not kept
    assert resent.status_code == 200, resent.text
    assert resent.json()["duplicates"] == 0  # the refused batch had stored nothing
    stored = stored_insert_ids(db)
    assert len(stored) == len(set(stored)) == 15
    assert set(stored) == node.acknowledged  # batches 0, 4, 2; never 1 or 3
    unexpected = re.findall(r"^request \S+ failed$", node.server.output(), re.M)
    assert not unexpected, node.server.output()  # the middleware's 500 path: never taken


def test_postgresql_lost_while_serving_is_503_then_recovers_without_restart(
    fresh_postgres: str, tmp_path: Path
) -> None:
    key = cli(fresh_postgres, "workspaces", "create", "faults")["api_key"]
    relay = Relay(target_of(fresh_postgres, 5432))
    try:
        server = Server(
            with_port(fresh_postgres, relay.port), log=tmp_path / "node.log", env=NODE_ENV
        )
        try:
            ride_out_an_outage(Node(server, key), relay, fresh_postgres, "postgresql")
        finally:
            server.stop()
    finally:
        relay.cut()


def test_redis_lost_while_serving_is_503_then_recovers_without_restart(
    fresh_postgres: str, redis_keys: str, tmp_path: Path
) -> None:
    key = cli(fresh_postgres, "workspaces", "create", "faults")["api_key"]
    relay = Relay(target_of(REDIS_URL, 6379))
    env = {
        **NODE_ENV,
        "FLOKIT_REDIS_URL": with_port(REDIS_URL, relay.port),
        "FLOKIT_REDIS_PREFIX": redis_keys,
    }
    try:
        server = Server(fresh_postgres, log=tmp_path / "node.log", env=env)
        try:
            ride_out_an_outage(Node(server, key), relay, fresh_postgres, "redis")
        finally:
            server.stop()
    finally:
        relay.cut()
