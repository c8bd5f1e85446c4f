"""Token buckets in a small SQLite file beside the database, shared by every worker process.

Its own file, so taking a token never waits behind an event commit; ``synchronous=OFF``, since
a bucket lost to a power cut only forgets a few seconds of spending.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from flokit.errors import Unavailable
from flokit.pipeline.limits import Bucket, Decision, take
from flokit.store.diskfull import DiskFullWatch, sqlite_disk_full, storage_full


class SqliteLimiter:
    """``Limiter`` over ``<db>.limits``: each decision is one short write transaction."""

    def __init__(self, path: Path, busy_timeout_ms: int = 5000) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = OFF")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS buckets ("
            " workspace_id INTEGER PRIMARY KEY, tokens REAL NOT NULL, updated_s REAL NOT NULL,"
            " capacity INTEGER NOT NULL)"
        )
        self._lock = threading.Lock()
        self._disk = DiskFullWatch("rate limiter", Path(path).parent)

    async def acquire(self, workspace_id: int, limit: int, now_s: float) -> Decision:
        """Spend a token if there is one (atomically across processes), in a thread: the
        decision may wait for the file's lock."""
        return await asyncio.to_thread(self._decide, workspace_id, limit, now_s, True)

    async def peek(self, workspace_id: int, limit: int, now_s: float) -> Decision:
        """The bucket's state for the headers, spending nothing."""
        return await asyncio.to_thread(self._decide, workspace_id, limit, now_s, False)

    async def unready_reason(self) -> str | None:
        """A full disk (its own writes found it); otherwise it is ready when the store is."""
        return self._disk.reason()

    def _decide(self, workspace_id: int, limit: int, now_s: float, spend: bool) -> Decision:
        """One decision; a file that stays locked or cannot be written (a full disk) is a
        503, like the store's own failures."""
        try:
            decision = self._decide_locked(workspace_id, limit, now_s, spend)
        except sqlite3.Error as exc:
            if sqlite_disk_full(exc):
                self._disk.failed(exc)
                raise storage_full("The rate limiter cannot record a request", exc) from exc
            raise Unavailable(f"The rate limiter cannot decide right now ({exc})") from exc
        if spend:
            self._disk.succeeded()
        return decision

    def _decide_locked(self, workspace_id: int, limit: int, now_s: float, spend: bool) -> Decision:
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE" if spend else "BEGIN")
            try:
                row = conn.execute(
                    "SELECT tokens, updated_s, capacity FROM buckets WHERE workspace_id = ?",
                    (workspace_id,),
                ).fetchone()
                decision, bucket = take(Bucket(*row) if row else None, limit, now_s, spend)
                if spend:
                    conn.execute(
                        "INSERT OR REPLACE INTO buckets VALUES (?, ?, ?, ?)",
                        (workspace_id, bucket.tokens, bucket.updated_s, bucket.limit),
                    )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (a full disk)
                    conn.execute("ROLLBACK")
                raise
            return decision

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
