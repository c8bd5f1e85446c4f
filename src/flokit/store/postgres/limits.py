"""Rate-limit buckets and in-flight markers in PostgreSQL, shared by every node.

Both live in UNLOGGED tables of the store's database and use its pool and threads: a bucket
or a marker lost to a crash costs a few seconds of spending or one early retry, and none of
them is worth a WAL record.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flokit.pipeline.limits import Bucket, Decision, take
from flokit.store.postgres.connections import Connection
from flokit.store.postgres.store import PostgresStore

_ENSURE_BUCKET = (
    "INSERT INTO rate_buckets (workspace_id, tokens, updated_s, capacity)"
    " VALUES (%s, %s, %s, %s) ON CONFLICT (workspace_id) DO NOTHING"
)
_BUCKET = "SELECT tokens, updated_s, capacity FROM rate_buckets WHERE workspace_id = %s"
_WRITE_BUCKET = (
    "UPDATE rate_buckets SET tokens = %s, updated_s = %s, capacity = %s WHERE workspace_id = %s"
)
# Taken if free or expired, or already this request's (the same token marking again).
_MARK = (
    "INSERT INTO inflight (workspace_id, key, fingerprint, token, expires_us)"
    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (workspace_id, key) DO UPDATE"
    " SET fingerprint = EXCLUDED.fingerprint, token = EXCLUDED.token,"
    " expires_us = EXCLUDED.expires_us"
    " WHERE inflight.expires_us < %s OR inflight.token = EXCLUDED.token RETURNING token"
)
_HOLDER = "SELECT fingerprint FROM inflight WHERE workspace_id = %s AND key = %s"
_UNMARK = "DELETE FROM inflight WHERE workspace_id = %s AND key = %s AND token = %s"


class PgLimiter:
    """``contract.Limiter``: each decision is one transaction holding the bucket's row lock,
    so requests on every node spend from one bucket and never more than it holds."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def acquire(self, workspace_id: int, limit: int, now_s: float) -> Decision:
        """Spend a token if there is one."""
        return await self._store.run(lambda conn: _spend(conn, workspace_id, limit, now_s))

    async def peek(self, workspace_id: int, limit: int, now_s: float) -> Decision:
        """The bucket's state for the headers, spending (and writing) nothing."""

        def look(conn: Connection) -> Decision:
            return take(_bucket(conn, workspace_id, lock=False), limit, now_s, spend=False)[0]

        return await self._store.run(look)

    async def unready_reason(self) -> str | None:
        return None  # its table is in the store's database, which /readyz probes already

    async def aclose(self) -> None:
        """Nothing of its own to close: the store owns the connections."""


def _spend(conn: Connection, workspace_id: int, limit: int, now_s: float) -> Decision:
    """One decision: make sure the row exists (a new bucket starts full, as ``take`` says),
    lock it, apply ``take``, write the bucket back."""
    conn.execute(_ENSURE_BUCKET, (workspace_id, float(limit), now_s, limit))
    decision, bucket = take(_bucket(conn, workspace_id, lock=True), limit, now_s, spend=True)
    conn.execute(_WRITE_BUCKET, (bucket.tokens, bucket.updated_s, bucket.limit, workspace_id))
    return decision


def _bucket(conn: Connection, workspace_id: int, *, lock: bool) -> Bucket | None:
    row = conn.execute(_BUCKET + (" FOR UPDATE" if lock else ""), (workspace_id,)).fetchone()
    return Bucket(float(row[0]), float(row[1]), int(row[2])) if row else None


class PgInFlight:
    """``contract.InFlightMarkers`` in the ``inflight`` table: a key being worked on anywhere
    in the deployment is seen by every node. A marker expires after ``ttl_ms``, so one left by
    a process that died frees its key by itself."""

    def __init__(self, store: PostgresStore, ttl_ms: int) -> None:
        self._store = store
        self._ttl_us = ttl_ms * 1000

    async def mark(
        self, workspace_id: int, key: str, fingerprint: bytes, token: str
    ) -> bytes | None:
        """Mark the key as this request's; None if marked, else the holder's fingerprint."""

        def work(conn: Connection) -> bytes | None:
            now_us = time.time_ns() // 1000
            params = (workspace_id, key, fingerprint, token, now_us + self._ttl_us, now_us)
            if conn.execute(_MARK, params).fetchone() is not None:
                return None
            holder = conn.execute(_HOLDER, (workspace_id, key)).fetchone()  # locked above
            return bytes(holder[0]) if holder else None

        return await self._store.run(work)

    async def unmark(self, workspace_id: int, key: str, token: str) -> None:
        """Remove this request's mark (only its own: another may have taken an expired one)."""
        await self._store.run(lambda conn: conn.execute(_UNMARK, (workspace_id, key, token)))

    async def aclose(self) -> None:
        """Nothing of its own to close: the store owns the connections."""


if TYPE_CHECKING:
    from flokit.store.contract import InFlightMarkers, Limiter

    def _implements(limiter: PgLimiter, markers: PgInFlight) -> tuple[Limiter, InFlightMarkers]:
        return limiter, markers  # mypy checks both against the contract here
