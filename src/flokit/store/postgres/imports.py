"""Import jobs in PostgreSQL: their records, claiming, progress, and the store-phase commits.

The same rules as ``sqlite_imports``; what differs is that several nodes may run jobs, so a
claim skips the rows another node is claiming (``FOR UPDATE SKIP LOCKED``) instead of waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from psycopg import sql

from flokit.model import ImportPhase, ImportRecord, ImportStatus
from flokit.store.contract import ImportGap, Resume
from flokit.store.postgres import events
from flokit.store.postgres.connections import Connection
from flokit.store.queries import IMPORT_COLUMNS as COLUMNS

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM imports"
_INSERT = f"INSERT INTO imports ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
_CLAIMABLE = "status = 'queued' OR (status = 'running' AND heartbeat_us < %(stale)s)"
_CLAIM = (
    "UPDATE imports SET status = 'running', heartbeat_us = %(now)s,"
    " started_us = coalesce(started_us, %(now)s) WHERE id = (SELECT id FROM imports"
    f" WHERE {_CLAIMABLE} ORDER BY created_us LIMIT 1 FOR UPDATE SKIP LOCKED)"
    f" RETURNING {', '.join(COLUMNS)}"
)
_MOVE_RESUME = (
    "UPDATE imports SET stored_ts = %s, stored_row = %s, accepted = accepted + %s,"
    " duplicates = duplicates + %s, heartbeat_us = %s"
    " WHERE id = %s AND stored_ts = %s AND stored_row = %s"
)
#: Later than any import's creation: the start of the first page.
_NEVER_US = 2**63 - 1


def _record(row: Sequence[Any]) -> ImportRecord:
    values = dict(zip(COLUMNS, row, strict=True))
    values["errors"] = msgspec.json.decode(values["errors"])
    values["status"] = ImportStatus(values["status"])
    values["phase"] = ImportPhase(values["phase"])
    return ImportRecord(**values)


def _column_value(name: str, value: Any) -> Any:
    return msgspec.json.encode(value).decode() if name == "errors" else value


def insert(conn: Connection, record: ImportRecord) -> None:
    conn.execute(_INSERT, [_column_value(name, getattr(record, name)) for name in COLUMNS])


def update(conn: Connection, import_id: str, changes: dict[str, object]) -> None:
    """Set ``changes`` (by column). With none, the row is still written: its commit flushes
    the log, which makes the slices committed before it durable, as ``update_import`` says."""
    if not changes:
        conn.execute("UPDATE imports SET heartbeat_us = heartbeat_us WHERE id = %s", (import_id,))
        return
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = %s").format(sql.Identifier(name)) for name in changes
    )
    values = [_column_value(name, value) for name, value in changes.items()]
    statement = sql.SQL("UPDATE imports SET {} WHERE id = %s").format(assignments)
    conn.execute(statement, (*values, import_id))


def get(conn: Connection, workspace_id: int, import_id: str) -> ImportRecord | None:
    row = conn.execute(
        f"{_SELECT} WHERE id = %s AND workspace_id = %s", (import_id, workspace_id)
    ).fetchone()
    return _record(row) if row else None


def load(conn: Connection, import_id: str) -> ImportRecord | None:
    row = conn.execute(f"{_SELECT} WHERE id = %s", (import_id,)).fetchone()
    return _record(row) if row else None


def recent(
    conn: Connection, workspace_id: int, limit: int, before: tuple[int, str] | None
) -> list[ImportRecord]:
    """Newest first, from just past ``before`` (created_us, id) when given."""
    created_us, import_id = before or (_NEVER_US, "")
    rows = conn.execute(
        f"{_SELECT} WHERE workspace_id = %s AND (created_us, id) < (%s, %s)"
        " ORDER BY created_us DESC, id DESC LIMIT %s",
        (workspace_id, created_us, import_id, limit),
    )
    return [_record(row) for row in rows]


def same_file(conn: Connection, workspace_id: int, sha256: str) -> ImportRecord | None:
    """An earlier real (not dry-run) import of the identical file that did not fail."""
    row = conn.execute(
        f"{_SELECT} WHERE workspace_id = %s AND file_sha256 = %s AND NOT dry_run"
        " AND status != 'failed' AND duplicate_of IS NULL ORDER BY created_us LIMIT 1",
        (workspace_id, sha256),
    ).fetchone()
    return _record(row) if row else None


def claimable(conn: Connection, stale_before_us: int) -> bool:
    row = conn.execute(
        f"SELECT 1 FROM imports WHERE {_CLAIMABLE} LIMIT 1", {"stale": stale_before_us}
    ).fetchone()
    return row is not None


def claim(conn: Connection, now_us: int, stale_before_us: int) -> ImportRecord | None:
    """Take the oldest queued job, or a running one whose process stopped beating; a job
    another node is taking at this moment is skipped, never taken twice."""
    row = conn.execute(_CLAIM, {"now": now_us, "stale": stale_before_us}).fetchone()
    return _record(row) if row else None


def store_slice(
    conn: Connection,
    record: ImportRecord,
    batch: events.EventRows,
    received_us: int,
    resume: Resume,
) -> tuple[int, int]:
    """Store one sorted slice of an import and move its resume point from ``resume[0]`` to
    ``resume[1]`` in the same transaction, so a crash never stores a slice twice nor skips one.
    A slice whose predecessor did not commit finds the resume point elsewhere and is refused:
    slices are queued ahead, so this is what keeps a failed one from leaving a gap. Committed
    without waiting for the disk (a crash undoes slice and resume point together).
    (new events, duplicates) stored."""
    (from_ts, from_row), (to_ts, to_row) = resume
    conn.execute("SET LOCAL synchronous_commit = off")
    originals = events.insert_events(conn, batch)
    duplicates = len(originals) - originals.count(None)
    moved = conn.execute(
        _MOVE_RESUME,
        (to_ts, to_row, len(originals), duplicates, received_us, record.id, from_ts, from_row),
    ).rowcount
    if moved != 1:
        raise ImportGap(f"import {record.id}: the slice before this one was not stored")
    return len(originals) - duplicates, duplicates
