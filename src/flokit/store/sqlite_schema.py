"""SQLite connections and numbered migrations (``PRAGMA user_version`` is the schema version).

The hot table ``events`` is append-only and its indexes grow at their right edge only (``seq``
and time-ordered ``event_id``), so inserts stay fast at hundreds of millions of rows; nothing is
indexed on the event's own ``timestamp``, which arrives in random order.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE workspaces (
            id INTEGER PRIMARY KEY,
            public_id TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            created_us INTEGER NOT NULL,
            requests_per_minute INTEGER
        )""",
        """CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY,
            workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
            key_hash TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('read_write', 'read_only')),
            created_us INTEGER NOT NULL,
            revoked_us INTEGER
        )""",
        "CREATE INDEX api_keys_workspace ON api_keys(workspace_id)",
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            workspace_id INTEGER NOT NULL,
            event_id TEXT NOT NULL,
            event TEXT NOT NULL,
            user_id TEXT,
            anonymous_id TEXT,
            timestamp_us INTEGER NOT NULL,
            received_us INTEGER NOT NULL,
            properties TEXT,
            insert_id TEXT
        )""",
        "CREATE UNIQUE INDEX events_event_id ON events(event_id)",
        "CREATE INDEX events_workspace_seq ON events(workspace_id, seq)",
        # Duplicate keys (contract §5): 'i:<insert_id>' expire, 't:<event>\\x1f<txn>' never do.
        """CREATE TABLE dedup_keys (
            workspace_id INTEGER NOT NULL,
            key TEXT NOT NULL,
            event_id TEXT NOT NULL,
            expires_us INTEGER,
            PRIMARY KEY (workspace_id, key)
        ) WITHOUT ROWID""",
        "CREATE INDEX dedup_keys_expiry ON dedup_keys(expires_us) WHERE expires_us IS NOT NULL",
    ],
    [
        # Idempotency-Key responses (contract §6), committed with the request's events.
        """CREATE TABLE idempotency (
            workspace_id INTEGER NOT NULL,
            key TEXT NOT NULL,
            fingerprint BLOB NOT NULL,
            status INTEGER NOT NULL,
            body BLOB NOT NULL,
            headers TEXT NOT NULL,
            expires_us INTEGER NOT NULL,
            PRIMARY KEY (workspace_id, key)
        ) WITHOUT ROWID""",
        "CREATE INDEX idempotency_expiry ON idempotency(expires_us)",
    ],
    [
        # CSV import jobs (contract §10); (stored_ts, stored_row) is the store phase's resume point.
        """CREATE TABLE imports (
            id TEXT PRIMARY KEY,
            workspace_id INTEGER NOT NULL,
            status TEXT NOT NULL,
            dry_run INTEGER NOT NULL,
            file_sha256 TEXT NOT NULL,
            file_bytes INTEGER NOT NULL,
            file_name TEXT,
            duplicate_of TEXT,
            rows_total INTEGER,
            rows_processed INTEGER NOT NULL,
            accepted INTEGER NOT NULL,
            rejected INTEGER NOT NULL,
            duplicates INTEGER NOT NULL,
            errors TEXT NOT NULL,
            failure TEXT,
            phase TEXT NOT NULL,
            stored_ts INTEGER NOT NULL,
            stored_row INTEGER NOT NULL,
            created_us INTEGER NOT NULL,
            started_us INTEGER,
            finished_us INTEGER,
            heartbeat_us INTEGER
        )""",
        "CREATE INDEX imports_workspace ON imports(workspace_id, created_us)",
        "CREATE INDEX imports_file ON imports(workspace_id, file_sha256)",
    ],
    [
        # Reports (analytics.md §3, §4): the reporting currency, spend (upserted by its
        # dimensions: a restated day replaces the old row) and daily exchange rates.
        "ALTER TABLE workspaces ADD COLUMN currency TEXT NOT NULL DEFAULT 'USD'",
        """CREATE TABLE spend (
            workspace_id INTEGER NOT NULL,
            day INTEGER NOT NULL,
            channel TEXT NOT NULL,
            campaign_id TEXT NOT NULL,
            ad_set_id TEXT NOT NULL,
            creative_id TEXT NOT NULL,
            country TEXT NOT NULL,
            amount INTEGER NOT NULL,
            currency TEXT NOT NULL,
            updated_us INTEGER NOT NULL,
            PRIMARY KEY (workspace_id, day, channel, campaign_id, ad_set_id, creative_id, country)
        ) WITHOUT ROWID""",
        """CREATE TABLE fx_rates (
            workspace_id INTEGER NOT NULL,
            day INTEGER NOT NULL,
            base TEXT NOT NULL,
            currency TEXT NOT NULL,
            rate REAL NOT NULL,
            PRIMARY KEY (workspace_id, day, base, currency)
        ) WITHOUT ROWID""",
    ],
    [
        # Provider integrations (integrations.md): counters, drops, errors and mapper memory.
        """CREATE TABLE integrations (
            id TEXT PRIMARY KEY,
            workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
            type TEXT NOT NULL,
            keep_sandbox BOOLEAN NOT NULL,
            settings TEXT NOT NULL,
            secret_hash TEXT UNIQUE,
            signing_secret TEXT,
            created_us BIGINT NOT NULL,
            events_total BIGINT NOT NULL DEFAULT 0,
            earliest_event_us BIGINT,
            last_synced_us BIGINT,
            last_status INTEGER,
            last_error TEXT
        )""",
        "CREATE INDEX integrations_workspace ON integrations(workspace_id)",
        """CREATE TABLE integration_hours (
            integration_id TEXT NOT NULL,
            hour BIGINT NOT NULL,
            events BIGINT NOT NULL,
            PRIMARY KEY (integration_id, hour)
        )""",
        """CREATE TABLE integration_drops (
            integration_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            count BIGINT NOT NULL,
            PRIMARY KEY (integration_id, reason)
        )""",
        """CREATE TABLE integration_errors (
            integration_id TEXT NOT NULL,
            at_us BIGINT NOT NULL,
            status INTEGER NOT NULL,
            message TEXT NOT NULL
        )""",
        "CREATE INDEX integration_errors_newest ON integration_errors(integration_id, at_us)",
        """CREATE TABLE integration_memory (
            integration_id TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (integration_id, key)
        )""",
    ],
]


def connect(path: Path, *, busy_timeout_ms: int, writer: bool) -> sqlite3.Connection:
    """A connection with the project's settings: WAL, ``synchronous=FULL``, a busy timeout."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    if writer:
        # 128 MiB: the index edges and much of the duplicate-key index stay hot (bench: grown store)
        conn.execute("PRAGMA cache_size = -131072")
        # Checkpoints run in their own thread (SqliteStore), off the commit path.
        conn.execute("PRAGMA wal_autocheckpoint = 0")
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to the newest version; safe when several processes start at once."""
    conn.execute("PRAGMA journal_mode = WAL")
    for version, statements in enumerate(MIGRATIONS, start=1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] < version:
                for statement in statements:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
