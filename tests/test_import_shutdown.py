"""A server stopped by its process group's SIGTERM or Ctrl-C (what a terminal, systemd or a
container runtime sends) in the middle of an import: the job stops at its next slice, in either
phase, is never recorded as failed, and the next start completes it, each row stored once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from imports_helpers import wait_done
from test_e2e_imports import _upload, _wait_for_phase, write_csv

from server import Server, cli

ROWS = 200_000
#: Validated in two processes (on two cores or more), which get the group's signal too.
ENV = {"FLOKIT_IMPORT_PARALLEL_MIN_BYTES": str(1 << 20)}
EXIT_BOUND_S = 60.0  # generous: the behaviour is within 5 s, timing must not decide the test


@pytest.mark.parametrize(
    ("phase", "sig", "at_start"),
    [
        ("validate", signal.SIGTERM, False),
        # As the job starts: its validation processes are still importing (seconds on a busy
        # machine), before they could set the signal aside themselves.
        ("validate", signal.SIGINT, True),
        ("store", signal.SIGTERM, False),
    ],
    ids=["validate-sigterm", "validate-ctrl-c-at-start", "store-sigterm"],
)
def test_a_stopped_server_leaves_its_import_to_resume(
    tmp_path: Path, phase: str, sig: signal.Signals, at_start: bool
) -> None:
    db = tmp_path / "stop.db"
    key = cli(db, "workspaces", "create", "w")["api_key"]
    data = tmp_path / "big.csv"
    valid = write_csv(data, ROWS, bad_every=100)
    auth = {"Authorization": f"Bearer {key}"}
    server = Server(db, env=ENV)
    try:
        import_id = _upload(server.url, auth, data)
        if at_start:
            seen = _wait_running(server.url, auth, import_id)
        else:
            seen = _wait_for_phase(server.url, auth, import_id, phase)
        assert (seen["status"], seen["phase"]) == ("running", phase), seen
        if phase == "validate" and not at_start:
            # Validating 200k rows takes about a second on an idle machine: freeze the
            # validation processes so the phase cannot end before the stop reaches them.
            with _frozen(_validation_processes(server.proc.pid)):
                os.killpg(server.proc.pid, sig)
                _wait_for_line(server, "validation stops at its next check")
        else:
            os.killpg(server.proc.pid, sig)
        stopped_in = _wait_exit(server.proc)
    finally:
        server.stop()  # a no-op once it exited; otherwise SIGTERM, then SIGKILL
    log = server.output()
    print(f"{sig.name} in the {phase} phase: the server exited in {stopped_in:.2f} s")
    assert "Traceback" not in log and "BrokenProcessPool" not in log, log
    status, left_in, accepted = _job_row(db, import_id)
    assert (status, left_in) == ("queued", phase), log  # stopped part-way, not failed
    assert accepted < valid, "the job ran to its end instead of stopping at the next slice"

    restarted = Server(db, env=ENV)
    try:
        final = wait_done(
            lambda path: httpx.get(f"{restarted.url}{path}", headers=auth), import_id, 120
        )
    finally:
        restarted.stop()
    assert (final["status"], final["accepted"], final["rejected"]) == ("completed", valid, 2000)
    with sqlite3.connect(db) as conn:
        count, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT user_id) FROM events"
        ).fetchone()
    assert count == distinct == valid


def _validation_processes(pid: int) -> list[int]:
    """The pool processes ``pid`` spawned (not its projector or the pool's resource tracker)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
    return found


@contextmanager
def _frozen(pids: list[int]) -> Iterator[None]:
    """The processes stopped (SIGSTOP) for the block, then continued whatever happens."""
    assert pids, "the server started no validation processes"
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _wait_for_line(server: Server, line: str) -> None:
    """Poll (bounded) until the server's log has ``line``."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if line in server.output():
            return
        time.sleep(0.01)
    raise AssertionError(f"the server never logged {line!r}: {server.output()}")


def _wait_running(url: str, auth: dict[str, str], import_id: str) -> dict[str, Any]:
    """Poll (bounded) until a worker has claimed the job."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job: dict[str, Any] = httpx.get(f"{url}/v1/imports/{import_id}", headers=auth).json()
        if job["status"] != "queued":
            return job
        time.sleep(0.01)
    raise AssertionError("no worker claimed the import")


def _wait_exit(proc: subprocess.Popen[bytes]) -> float:
    """Seconds until the server process exited (bounded generously)."""
    started = time.monotonic()
    try:
        proc.wait(timeout=EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the server did not exit within {EXIT_BOUND_S} s") from None
    return time.monotonic() - started


def _job_row(db: Path, import_id: str) -> tuple[str, str, int]:
    with sqlite3.connect(db) as conn:
        row: tuple[str, str, int] = conn.execute(
            "SELECT status, phase, accepted FROM imports WHERE id = ?", (import_id,)
        ).fetchone()
    return row
