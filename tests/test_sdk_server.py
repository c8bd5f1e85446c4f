"""The SDK against real FloKit servers: delivery, rejections, keys, a clean install, a crash."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flokit_sdk import Client, PermissionDeniedError, RetryPolicy

from server import Server, cli

REPO = Path(__file__).resolve().parents[1]
UNTHROTTLED = {"FLOKIT_DEFAULT_REQUESTS_PER_MINUTE": "1000000"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Server, dict[str, Any]]]:
    db = tmp_path / "sdk.db"
    workspace = cli(db, "workspaces", "create", "sdk")
    server = Server(db, env=UNTHROTTLED)
    yield server, workspace
    server.stop()


def stored_events(server: Server, key: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.url}/v1/events?limit=1000", headers={"Authorization": f"Bearer {key}"}
    )
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def test_track_flush_stores_the_events(served: tuple[Server, dict[str, Any]]) -> None:
    server, workspace = served
    with Client(workspace["api_key"], server.url) as flokit:
        ids = [
            flokit.track("paywall_viewed", user_id=f"u{i}", properties={"paywall_id": "pw"})
            for i in range(25)
        ]
        assert flokit.flush(timeout=30)
    events = stored_events(server, workspace["api_key"])
    assert sorted(e["insert_id"] for e in events) == sorted(ids)


def test_partial_rejection_is_surfaced_with_the_callers_event(
    served: tuple[Server, dict[str, Any]],
) -> None:
    server, workspace = served
    bad = {
        "event": "subscription_started",
        "user_id": "u",
        "timestamp": "2024-03-22T14:22:00Z",
        "properties": {"plan_id": "p", "revenue": 1, "transaction_id": "t"},
    }
    good = {
        "event": "trial_started",
        "user_id": "u",
        "timestamp": "2024-03-22T14:22:00Z",
        "properties": {"plan_id": "p"},
    }
    with Client(workspace["api_key"], server.url) as flokit:
        result = flokit.send_batch([good, bad])
    assert (result.accepted, result.rejected) == (1, 1)
    assert result.errors[0].index == 1 and result.errors[0].event is bad
    assert result.errors[0].reason == "Missing required field: currency"


def test_read_only_key_raises_a_clear_error(
    served: tuple[Server, dict[str, Any]], tmp_path: Path
) -> None:
    server, workspace = served
    read_only = cli(
        tmp_path / "sdk.db",
        "keys",
        "create",
        "--workspace",
        workspace["workspace_id"],
        "--read-only",
    )
    with (
        Client(read_only["api_key"], server.url) as flokit,
        pytest.raises(PermissionDeniedError) as raised,
    ):
        flokit.send_batch([{"event": "x", "user_id": "u", "timestamp": "2024-03-22T14:22:00Z"}])
    assert raised.value.status == 403 and "read-write key" in str(raised.value)


def test_installs_alone_in_a_clean_virtualenv(
    served: tuple[Server, dict[str, Any]], tmp_path: Path
) -> None:
    server, workspace = served
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(REPO / "sdk")]
    subprocess.run(pip, check=True, timeout=600, capture_output=True)
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    assert "flokit-sdk" in listed and "httpx" in listed
    assert not any(name in listed for name in ("starlette", "msgspec", "uvicorn", "flokit=="))
    script = (
        "import sys, flokit_sdk\n"
        "with flokit_sdk.Client(sys.argv[1], sys.argv[2]) as c:\n"
        "    e = {'event': 'x', 'user_id': 'u', 'timestamp': '2024-03-22T14:22:00Z'}\n"
        "    r = c.send_batch([e])\n"
        "print(r.accepted, flokit_sdk.__file__)\n"
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script, workspace["api_key"], server.url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.stdout.startswith("1 ") and str(venv) in done.stdout, done.stderr


def stored_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def wait_until_stored(db: Path, at_least: int, timeout_s: float = 120.0) -> int:
    """Poll the database (not the clock) until it holds ``at_least`` events; how many."""
    deadline = time.monotonic() + timeout_s
    while (count := stored_count(db)) < at_least:
        assert time.monotonic() < deadline, f"only {count} of {at_least} events stored"
        time.sleep(0.02)
    return count


def test_a_server_killed_and_restarted_mid_send_ends_with_exactly_every_event(
    tmp_path: Path,
) -> None:
    """The server is killed once 10,000 of the first 50,000 events are stored (observed, not
    timed); the other 50,000 are tracked while it is down and after its restart, so the SDK
    meets the dead server for certain and must retry its way through."""
    db = tmp_path / "crash.db"
    workspace = cli(db, "workspaces", "create", "sdk")
    server = Server(db, env=UNTHROTTLED)
    restarted: list[Server] = []
    retry = RetryPolicy(max_attempts=30, max_elapsed_s=120, base_s=0.1, cap_s=1.0)

    def track(flokit: Client, numbers: range) -> None:
        for i in numbers:
            flokit.track("paywall_viewed", user_id=f"u{i}", properties={"paywall_id": "pw"})

    try:
        with Client(workspace["api_key"], server.url, retry=retry, flush_interval=0.2) as flokit:
            track(flokit, range(50_000))
            wait_until_stored(db, at_least=10_000)
            server.kill()
            track(flokit, range(50_000, 100_000))
            restarted.append(Server(db, env=UNTHROTTLED, port=server.port))
            assert flokit.flush(timeout=120)
    finally:
        for running in [server, *restarted]:
            running.stop()
    with sqlite3.connect(db) as conn:
        count, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT insert_id) FROM events"
        ).fetchone()
    assert count == distinct == 100_000


def users_after_exit(server: Server, workspace: dict[str, Any], script: str) -> set[str]:
    """Run ``script`` (argv: key, url) in a fresh interpreter to its end; the users stored."""
    done = subprocess.run(
        [sys.executable, "-c", script, workspace["api_key"], server.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return {e["user_id"] for e in stored_events(server, workspace["api_key"])}


def test_events_tracked_are_flushed_at_interpreter_exit(
    served: tuple[Server, dict[str, Any]],
) -> None:
    server, workspace = served
    script = (
        "import sys, flokit_sdk\n"
        "c = flokit_sdk.Client(sys.argv[1], sys.argv[2], flush_interval=3600)\n"
        "for i in range(10):\n"
        "    c.track('paywall_viewed', user_id=f'exit{i}', properties={'paywall_id': 'p'})\n"
        "# no flush, no close: the interpreter exits with the events queued\n"
    )
    assert users_after_exit(server, workspace, script) == {f"exit{i}" for i in range(10)}


def test_async_client_leftovers_are_sent_at_interpreter_exit(
    served: tuple[Server, dict[str, Any]],
) -> None:
    server, workspace = served
    script = (
        "import asyncio, sys, flokit_sdk\n"
        "async def main():\n"
        "    c = flokit_sdk.AsyncClient(sys.argv[1], sys.argv[2], flush_interval=3600)\n"
        "    for i in range(7):\n"
        "        await c.track('x', user_id=f'aexit{i}')\n"
        "    return c  # never closed: the loop ends with the events still queued\n"
        "client = asyncio.run(main())\n"
    )
    assert users_after_exit(server, workspace, script) == {f"aexit{i}" for i in range(7)}
