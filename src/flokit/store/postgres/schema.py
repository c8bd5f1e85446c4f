"""Numbered migrations (``migrations/NNNN_name.sql``) and the schema version they leave.

The version is the highest row of ``flokit_schema``. Migrating holds a session advisory lock,
so any number of processes may start at once: the first applies what is pending, the others
wait for it and find nothing left to do. Each migration commits with its version row, so a
crash half-way leaves the database at the last version fully applied.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import psycopg
from psycopg.rows import TupleRow

from flokit.store.contract import SchemaOutOfDate, SchemaTooNew
from flokit.store.postgres.connections import connect

#: The advisory lock key migrations hold (any constant; this is "flokit" in ASCII).
MIGRATION_LOCK = 0x666C6F6B6974
_FILE_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
_CREATE_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS flokit_schema ("
    " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
)


@cache
def migrations() -> tuple[tuple[int, str], ...]:
    """Every migration shipped with this FloKit, (version, SQL) in order, numbered 1, 2, …
    without gaps (a gap would be a packaging mistake, found at start rather than in a schema)."""
    folder = resources.files(__package__).joinpath("migrations")
    found = sorted(
        (int(match[1]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if (match := _FILE_NAME.fullmatch(entry.name))
    )
    numbers = [number for number, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"PostgreSQL migrations are not numbered 1..n: {numbers}")
    return tuple(found)


def latest_version() -> int:
    """The schema version this FloKit's newest migration makes."""
    return len(migrations())


def current_version(conn: psycopg.Connection[TupleRow]) -> int:
    """The database's schema version (0: never migrated)."""
    row = conn.execute("SELECT to_regclass('flokit_schema') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    version = conn.execute("SELECT coalesce(max(version), 0) FROM flokit_schema").fetchone()
    return int(version[0]) if version else 0


def check_schema(conn: psycopg.Connection[TupleRow]) -> int:
    """The database's schema version; refused when a newer FloKit migrated it, since this one
    cannot know what the newer tables mean."""
    version, latest = current_version(conn), latest_version()
    if version > latest:
        raise SchemaTooNew(
            f"database schema is version {version}, this FloKit knows up to {latest}:"
            " upgrade FloKit"
        )
    return version


def check_current(conn: psycopg.Connection[TupleRow]) -> None:
    """Refuse a schema this FloKit cannot use without migrating it (older) or at all (newer)."""
    version, latest = check_schema(conn), latest_version()
    if version < latest:
        raise SchemaOutOfDate(
            f"database schema is version {version}, this FloKit needs {latest}:"
            " run `flokit db migrate`"
        )


def migrate(url: str) -> int:
    """Bring the database at ``url`` to the newest schema; the version it is at afterwards."""
    with connect(url) as conn:
        return apply_migrations(conn)


def apply_migrations(conn: psycopg.Connection[TupleRow]) -> int:
    """``migrate`` on an open autocommit connection (the lock is held by its session)."""
    if not conn.autocommit:
        raise ValueError("migrations need an autocommit connection (each runs in its own)")
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        conn.execute(_CREATE_VERSION_TABLE)
        version = check_schema(conn)
        for number, sql in migrations()[version:]:
            with conn.transaction():
                conn.execute(sql.encode())  # no parameters: may hold several statements
                conn.execute("INSERT INTO flokit_schema (version) VALUES (%s)", (number,))
            version = number
        return version
    finally:
        if not conn.broken:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
