"""The read models on SQLite: a second database file beside the log, attached as ``rm``.

Its own file, so the projector's commits never take the write lock ingest commits under (the
two run side by side), and so it can commit with ``synchronous=NORMAL``: a power cut may undo
its last batches, checkpoint included, and they are projected again. Deleting the file is a
rebuild.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from flokit.store.contract import Apply, ProjectionProgress
from flokit.store.readmodel_queries import ReadQueries
from flokit.store.readmodel_sql import (
    LOG_COLUMNS,
    SQLITE,
    LogEvent,
    ReadModels,
    save_checkpoint,
    take_checkpoint,
)

_COHORT_COLUMNS = (
    "cohort_day INTEGER NOT NULL, attributed INTEGER NOT NULL, campaign_id TEXT, channel TEXT,"
    " ad_set_id TEXT, creative_id TEXT, country TEXT, offer_id TEXT, paywall_id TEXT"
)
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS rm.projection_state (name TEXT PRIMARY KEY, as_of INTEGER NOT"
    " NULL, seq INTEGER NOT NULL, tx_lo INTEGER NOT NULL, tx_hi INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS rm.identity_pairs (workspace_id INTEGER NOT NULL, anonymous_id"
    " TEXT NOT NULL, user_id TEXT NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL, event_id"
    " TEXT NOT NULL, conflict INTEGER NOT NULL, PRIMARY KEY (workspace_id, anonymous_id,"
    " user_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS rm.identity_pairs_user ON identity_pairs (workspace_id, user_id)",
    "CREATE INDEX IF NOT EXISTS rm.identity_conflicts ON identity_pairs (workspace_id, seq)"
    " WHERE conflict = 1",
    "CREATE TABLE IF NOT EXISTS rm.identity_links (workspace_id INTEGER NOT NULL, anonymous_id"
    " TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (workspace_id, anonymous_id))"
    " WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS rm.identity_links_user ON identity_links (workspace_id, user_id)",
    "CREATE TABLE IF NOT EXISTS rm.identity_facts (workspace_id INTEGER NOT NULL, key TEXT NOT"
    " NULL, facts TEXT NOT NULL, PRIMARY KEY (workspace_id, key)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS rm.people (workspace_id INTEGER NOT NULL, key TEXT NOT NULL,"
    " kind TEXT NOT NULL, id TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT"
    " NULL, event_count INTEGER NOT NULL, status TEXT NOT NULL, has_install INTEGER NOT NULL,"
    " joined INTEGER NOT NULL, revenue_events INTEGER NOT NULL, facts TEXT NOT NULL,"
    " PRIMARY KEY (workspace_id, key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS rm.people_recent ON people (workspace_id, last_seen, kind, id)",
    "CREATE INDEX IF NOT EXISTS rm.people_id ON people (workspace_id, id)",
    "CREATE TABLE IF NOT EXISTS rm.identity_totals (workspace_id INTEGER PRIMARY KEY, users"
    " INTEGER NOT NULL, unlinked INTEGER NOT NULL, linked INTEGER NOT NULL, installs INTEGER NOT"
    " NULL, joined INTEGER NOT NULL, revenue_events INTEGER NOT NULL, unattributed INTEGER NOT"
    " NULL, conflicts INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS rm.event_index (workspace_id INTEGER NOT NULL, key TEXT NOT NULL,"
    " seq INTEGER NOT NULL, ts INTEGER NOT NULL, solo INTEGER NOT NULL,"
    " PRIMARY KEY (workspace_id, key, seq)) WITHOUT ROWID",
    # The reports' models (store/report_sql.py), stored in cohort-day order: a report reads
    # one contiguous range of each table instead of a row lookup per person.
    "CREATE TABLE IF NOT EXISTS rm.report_items (workspace_id INTEGER NOT NULL, owner TEXT NOT"
    " NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, ts INTEGER NOT NULL, currency TEXT,"
    " amount INTEGER, txn TEXT, offer_id TEXT, paywall_id TEXT,"
    " PRIMARY KEY (workspace_id, owner, seq)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS rm.report_items_txn ON report_items (workspace_id, txn)"
    " WHERE txn IS NOT NULL",
    f"CREATE TABLE IF NOT EXISTS rm.report_people (workspace_id INTEGER NOT NULL, key TEXT NOT"
    f" NULL, {_COHORT_COLUMNS}, trial INTEGER NOT NULL, paid INTEGER NOT NULL, converted INTEGER"
    " NOT NULL, renewals INTEGER NOT NULL, paid_first_day INTEGER, ended_day INTEGER,"
    " PRIMARY KEY (workspace_id, cohort_day, key)) WITHOUT ROWID",
    "CREATE UNIQUE INDEX IF NOT EXISTS rm.report_people_key ON report_people (workspace_id, key)",
    "CREATE TABLE IF NOT EXISTS rm.report_revenue (workspace_id INTEGER NOT NULL, key TEXT NOT"
    " NULL, day INTEGER NOT NULL, currency TEXT NOT NULL, amount INTEGER NOT NULL, events INTEGER"
    f" NOT NULL, payments INTEGER NOT NULL, {_COHORT_COLUMNS},"
    " PRIMARY KEY (workspace_id, cohort_day, key, day, currency)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS rm.report_revenue_key ON report_revenue (workspace_id, key)",
    "INSERT OR IGNORE INTO rm.projection_state VALUES ('identity', 0, 0, 0, 0)",
]
_READ_LOG = f"SELECT {LOG_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
#: Which events the index may not hold yet (the explorer reads them from the log).
T = TypeVar("T")
#: Page cache of the read-model file, per connection (a maximum: it fills only as used).
RM_CACHE_KIB = 256 * 1024
UNSETTLED = "seq > coalesce((SELECT seq FROM projection_state WHERE name = 'identity'), 0)"


def read_models_path(log_path: Path) -> Path:
    """``flokit.db`` -> ``flokit.read.db``, beside it."""
    return log_path.with_name(f"{log_path.stem}.read{log_path.suffix or '.db'}")


def attach(conn: sqlite3.Connection, log_path: Path) -> None:
    """Attach the read models' file to a connection of the log as ``rm``."""
    conn.execute("ATTACH DATABASE ? AS rm", (str(read_models_path(log_path)),))
    conn.execute("PRAGMA rm.synchronous = NORMAL")
    # Projector batches touch pages all over the read models' B-trees; with the default 2 MB
    # cache each batch re-read them (bench/identity.py: 4.0k -> 5.2k events/s live at 256 MB).
    conn.execute(f"PRAGMA rm.cache_size = {-RM_CACHE_KIB}")


def create(conn: sqlite3.Connection) -> None:
    """Create the read-model tables (any number of processes may start at once)."""
    conn.execute("PRAGMA rm.journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA:
            conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class SqliteDb:
    """``readmodel_sql.Db`` on a sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def many(self, sql: str, params: Iterable[Sequence[object]]) -> None:
        self.conn.executemany(sql, params)


_LOCK = "UPDATE rm.projection_state SET as_of = as_of WHERE name = 'identity'"


def project_next(conn: sqlite3.Connection, limit: int, apply: Apply) -> int:
    """One projector batch in one transaction on the read-model file only."""
    db = SqliteDb(conn)
    conn.execute("BEGIN")
    try:
        # Writing first takes rm's write lock (waiting for another projector), never the log's
        # (BEGIN IMMEDIATE would lock every attached file, the log included).
        conn.execute(_LOCK)
        checkpoint = take_checkpoint(db, SQLITE)
        events = [LogEvent(*r) for r in conn.execute(_READ_LOG, (checkpoint.seq, limit))]
        if events:
            apply(ReadModels(db, SQLITE), events)
            checkpoint.seq = checkpoint.as_of = events[-1].seq
            save_checkpoint(db, SQLITE, checkpoint)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(events)


def reset(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN")
    try:
        conn.execute(_LOCK)  # after any projector's batch, and ingest never waits for it
        ReadModels(SqliteDb(conn), SQLITE).clear()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def progress(conn: sqlite3.Connection, now_us: int) -> ProjectionProgress:
    checkpoint = take_checkpoint(SqliteDb(conn), SQLITE)
    head = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    oldest = conn.execute(
        "SELECT received_us FROM events WHERE seq > ? ORDER BY seq LIMIT 1", (checkpoint.seq,)
    ).fetchone()
    lag_s = max(0.0, (now_us - oldest[0]) / 1e6) if oldest else 0.0
    return ProjectionProgress(checkpoint.as_of, max(0, head - checkpoint.seq), lag_s)


def read(conn: sqlite3.Connection, work: Callable[[ReadQueries, int], T]) -> T:
    """``work(queries, as_of)`` in one read transaction (one snapshot of both files)."""
    db = SqliteDb(conn)
    conn.execute("BEGIN")
    try:
        return work(ReadQueries(db, SQLITE), take_checkpoint(db, SQLITE).as_of)
    finally:
        conn.execute("COMMIT")
