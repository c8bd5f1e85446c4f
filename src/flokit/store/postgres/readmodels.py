"""The read models on PostgreSQL: the projector's batch, its progress, the read transaction.

Events get their ``seq`` before they commit, so following the log by seq alone would skip an
event whose transaction commits after a later seq was projected. The projector therefore reads
by windows of transaction ids (``events.tx``): a window [lo, hi) opens when every transaction
below ``hi`` has ended (``hi`` is the snapshot's xmin), so no event can appear in it later; it is
read in seq order and closed when exhausted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from flokit.store.contract import Apply, ProjectionProgress
from flokit.store.postgres.connections import Connection
from flokit.store.readmodel_queries import ReadQueries
from flokit.store.readmodel_sql import (
    LOG_COLUMNS,
    POSTGRES,
    Checkpoint,
    LogEvent,
    ReadModels,
    save_checkpoint,
    take_checkpoint,
)

T = TypeVar("T")
_READ_WINDOW = (
    f"SELECT {LOG_COLUMNS} FROM events WHERE tx >= %s AND tx < %s AND seq > %s"
    " ORDER BY seq LIMIT %s"
)
_HORIZON = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
#: Which events the index may not hold yet (the explorer reads them from the log).
UNSETTLED = "tx >= coalesce((SELECT tx_lo FROM projection_state WHERE name = 'identity'), 0)"
_BEHIND = (
    "SELECT count(*), min(received_us) FROM events WHERE tx >= %s AND NOT (tx < %s AND seq <= %s)"
)


class PgDb:
    """``readmodel_sql.Db`` on a psycopg connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        cursor = self.conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []

    def many(self, sql: str, params: Iterable[Sequence[object]]) -> None:
        rows = list(params)
        if rows:
            self.conn.cursor().executemany(sql, rows)


def project_next(conn: Connection, limit: int, apply: Apply) -> int:
    """One projector batch, in the caller's transaction; the checkpoint row's lock makes
    projectors on several nodes take turns."""
    db = PgDb(conn)
    checkpoint = take_checkpoint(db, POSTGRES, "FOR UPDATE")
    events = _window(conn, checkpoint, limit)
    if not events:
        horizon = conn.execute(_HORIZON).fetchone()
        if horizon is None or int(horizon[0]) <= checkpoint.tx_hi:
            return 0
        checkpoint.tx_lo, checkpoint.tx_hi, checkpoint.seq = checkpoint.tx_hi, int(horizon[0]), 0
        events = _window(conn, checkpoint, limit)
    if events:
        apply(ReadModels(db, POSTGRES), events)
        checkpoint.seq = events[-1].seq
        checkpoint.as_of = max(checkpoint.as_of, checkpoint.seq)
    save_checkpoint(db, POSTGRES, checkpoint)
    return len(events)


def _window(conn: Connection, checkpoint: Checkpoint, limit: int) -> list[LogEvent]:
    params = (checkpoint.tx_lo, checkpoint.tx_hi, checkpoint.seq, limit)
    return [LogEvent(*row) for row in conn.execute(_READ_WINDOW, params)]


def reset(conn: Connection) -> None:
    """Empty the read models, holding the checkpoint first: a projector's batch commits
    wholly before this or runs wholly after it, never half on each side."""
    db = PgDb(conn)
    take_checkpoint(db, POSTGRES, "FOR UPDATE")
    ReadModels(db, POSTGRES).clear()


def progress(conn: Connection, now_us: int) -> ProjectionProgress:
    checkpoint = take_checkpoint(PgDb(conn), POSTGRES)
    row = conn.execute(_BEHIND, (checkpoint.tx_lo, checkpoint.tx_hi, checkpoint.seq)).fetchone()
    behind, oldest = (int(row[0]), row[1]) if row else (0, None)
    lag_s = max(0.0, (now_us - oldest) / 1e6) if oldest is not None else 0.0
    return ProjectionProgress(checkpoint.as_of, behind, lag_s)


def read(conn: Connection, work: Callable[[ReadQueries, int], T]) -> T:
    """``work(queries, as_of)`` in the caller's transaction."""
    db = PgDb(conn)
    return work(ReadQueries(db, POSTGRES), take_checkpoint(db, POSTGRES).as_of)
