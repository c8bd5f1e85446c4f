"""Group commit: one thread owns the write connection and commits many requests per transaction.

Each request is a job (a function of the connection) run inside its own savepoint, so a failing
job is rolled back alone; the transaction is committed (fsync'd: WAL, ``synchronous=FULL``)
before any of its jobs' futures is resolved, so no caller answers before its data is durable.

A job may be submitted as not ``durable`` (an import's slice, which carries its own resume
point): a transaction of only such jobs commits with ``synchronous=NORMAL``, without an fsync of
its own. A process crash loses nothing (the WAL is in the OS's hands); a power cut may undo the
last of them, resume points included, and the next durable commit fsyncs every one before it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flokit.errors import Unavailable
from flokit.store.diskfull import DiskFullWatch, sqlite_disk_full, storage_full

log = logging.getLogger("flokit.store")

Job = Callable[[sqlite3.Connection], Any]


@dataclass(slots=True)
class _Pending:
    run: Job
    rows: int
    durable: bool
    future: Future[Any] = field(default_factory=Future)


class GroupCommitWriter:
    """Runs write jobs on one connection, committing up to ``max_jobs``/``max_rows`` at once."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        max_jobs: int,
        max_rows: int,
        lock_path: Path | None = None,
        disk: DiskFullWatch | None = None,
    ) -> None:
        self._conn = conn
        self._disk = disk or DiskFullWatch("sqlite")
        self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644) if lock_path else None
        self._max_jobs, self._max_rows = max_jobs, max_rows
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._closing = threading.Lock()
        self._closed = False
        self.commits = 0  # transactions committed: group commit shows as commits < requests
        self._synchronous = "FULL"  # as ``connect`` left the connection
        self._rewind = threading.Event()
        self._busy_timeout_ms = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
        self._thread = threading.Thread(target=self._loop, name="flokit-writer", daemon=True)
        self._thread.start()

    def submit(self, run: Job, rows: int = 1, durable: bool = True) -> Future[Any]:
        """Queue a job; its future holds the job's result once the transaction committed
        (and was fsync'd, if the job is ``durable``)."""
        pending = _Pending(run, rows, durable)
        with self._closing:  # nothing may be queued behind the stop marker
            if self._closed:
                pending.future.set_exception(Unavailable("The event store is closed"))
            else:
                self._queue.put(pending)
        return pending.future

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        """Finish every queued job, then stop the thread and close the connection (idempotent)."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()
        self._conn.close()

    def rewind_wal(self) -> None:
        """Ask for a WAL rewind after the current transaction (see ``_rewind``)."""
        self._rewind.set()

    def _loop(self) -> None:
        while (first := self._queue.get()) is not None:
            group, stop = self._gather(first)
            self._commit(group)
            if self._rewind.is_set():
                self._rewind.clear()
                self._rewind_now()
            if stop:
                break

    def _rewind_now(self) -> None:
        """Backfill the whole WAL and restart it from its beginning. Under continuous commits
        a background checkpoint never reaches the end of the WAL, which then grows without
        bound (3 GB during a 3M-row import) and slows every commit; between two transactions
        the writer can finish the job. Readers get 100 ms to let go, else it waits for later."""
        conn = self._conn
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            conn.execute("PRAGMA busy_timeout = 100")
            conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        except sqlite3.Error as exc:
            log.info("WAL rewind postponed: %s", exc)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _gather(self, first: _Pending) -> tuple[list[_Pending], bool]:
        """Everything already waiting, up to the group limits: the group-commit batch."""
        group, rows = [first], first.rows
        while len(group) < self._max_jobs and rows < self._max_rows:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return group, True
            group.append(item)
            rows += item.rows
        return group, False

    def _commit(self, group: list[_Pending]) -> None:
        """Commit under the cross-process write lock. Blocking ``flock`` hands the lock to the
        other worker the moment it is free (SQLite's busy handler polls in sleeps of up to
        100 ms); requests that gave up waiting meanwhile are dropped, never run."""
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            live = [item for item in group if item.future.set_running_or_notify_cancel()]
            if live:
                self._commit_locked(live)
        finally:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _commit_locked(self, group: list[_Pending]) -> None:
        conn = self._conn
        changes_before = conn.total_changes
        try:
            self._set_synchronous("FULL" if any(item.durable for item in group) else "NORMAL")
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._fail(group, exc)
            return
        try:
            outcomes = [self._run_in_savepoint(item) for item in group]
            conn.execute("COMMIT")
        except sqlite3.Error as exc:  # the transaction itself is lost (disk full, I/O error)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._fail(group, exc)
            return
        self.commits += 1
        if conn.total_changes != changes_before:  # it wrote: the disk took it
            self._disk.succeeded()
        for item, (ok, value) in zip(group, outcomes, strict=True):
            if ok:
                item.future.set_result(value)
            else:
                item.future.set_exception(value)

    def _set_synchronous(self, level: str) -> None:
        if level != self._synchronous:
            self._conn.execute(f"PRAGMA synchronous = {level}")
            self._synchronous = level

    def _run_in_savepoint(self, item: _Pending) -> tuple[bool, Any]:
        conn = self._conn
        conn.execute("SAVEPOINT job")
        try:
            value = item.run(conn)
        except Exception as exc:  # one request's fault must not sink the others in its group
            if sqlite_disk_full(exc):
                self._disk.failed(exc)
            if not conn.in_transaction:  # SQLite rolled it all back (a full disk): all fail
                raise
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            return False, _as_store_error(exc)
        conn.execute("RELEASE job")
        return True, value

    def _fail(self, group: list[_Pending], exc: sqlite3.Error) -> None:
        if sqlite_disk_full(exc):
            self._disk.failed(exc)
        log.error("transaction failed, %d requests answered 503: %s", len(group), exc)
        for item in group:
            item.future.set_exception(_as_store_error(exc))


def _as_store_error(exc: Exception) -> Exception:
    """A database that cannot take writes now (locked, full, I/O) is a 503, not a 500."""
    if sqlite_disk_full(exc):
        return storage_full("The event store cannot store anything", exc)
    if isinstance(exc, sqlite3.OperationalError):
        return Unavailable(f"The event store cannot commit right now ({exc}); nothing was stored")
    return exc
