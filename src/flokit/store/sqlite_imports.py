"""Import jobs in SQLite: their records, claiming, progress, and the store-phase commits."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

from flokit.model import ImportPhase, ImportRecord, ImportStatus
from flokit.store import sqlite_events
from flokit.store.contract import ImportGap
from flokit.store.queries import IMPORT_COLUMNS as COLUMNS

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM imports"


def _record(row: Sequence[Any]) -> ImportRecord:
    values = dict(zip(COLUMNS, row, strict=True))
    values["dry_run"] = bool(values["dry_run"])
    values["errors"] = msgspec.json.decode(values["errors"])
    values["status"] = ImportStatus(values["status"])
    values["phase"] = ImportPhase(values["phase"])
    return ImportRecord(**values)


def _column_value(name: str, value: Any) -> Any:
    return msgspec.json.encode(value).decode() if name == "errors" else value


def insert(conn: sqlite3.Connection, record: ImportRecord) -> None:
    marks = ", ".join("?" * len(COLUMNS))
    values = [_column_value(name, getattr(record, name)) for name in COLUMNS]
    conn.execute(f"INSERT INTO imports ({', '.join(COLUMNS)}) VALUES ({marks})", values)


def update(conn: sqlite3.Connection, import_id: str, changes: dict[str, Any]) -> None:
    assignments = ", ".join(f"{name} = ?" for name in changes)
    values = [_column_value(name, value) for name, value in changes.items()]
    conn.execute(f"UPDATE imports SET {assignments} WHERE id = ?", (*values, import_id))


def get(conn: sqlite3.Connection, workspace_id: int, import_id: str) -> ImportRecord | None:
    row = conn.execute(f"{_SELECT} WHERE id = ? AND workspace_id = ?", (import_id, workspace_id))
    found = row.fetchone()
    return _record(found) if found else None


def get_by_id(conn: sqlite3.Connection, import_id: str) -> ImportRecord | None:
    found = conn.execute(f"{_SELECT} WHERE id = ?", (import_id,)).fetchone()
    return _record(found) if found else None


#: Later than any import's creation: the start of the first page.
_NEVER_US = 2**63 - 1


def recent(
    conn: sqlite3.Connection, workspace_id: int, limit: int, before: tuple[int, str] | None
) -> list[ImportRecord]:
    """Newest first, from just past ``before`` (created_us, id) when given."""
    created_us, import_id = before or (_NEVER_US, "")
    rows = conn.execute(
        f"{_SELECT} WHERE workspace_id = ? AND (created_us < ? OR (created_us = ? AND id < ?))"
        " ORDER BY created_us DESC, id DESC LIMIT ?",
        (workspace_id, created_us, created_us, import_id, limit),
    )
    return [_record(row) for row in rows]


def same_file(conn: sqlite3.Connection, workspace_id: int, sha256: str) -> ImportRecord | None:
    """An earlier real (not dry-run) import of the identical file that did not fail."""
    row = conn.execute(
        f"{_SELECT} WHERE workspace_id = ? AND file_sha256 = ? AND dry_run = 0"
        " AND status != 'failed' AND duplicate_of IS NULL ORDER BY created_us LIMIT 1",
        (workspace_id, sha256),
    ).fetchone()
    return _record(row) if row else None


def claimable(conn: sqlite3.Connection, stale_before_us: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM imports WHERE status = 'queued'"
        " OR (status = 'running' AND heartbeat_us < ?) LIMIT 1",
        (stale_before_us,),
    ).fetchone()
    return row is not None


def claim(conn: sqlite3.Connection, now_us: int, stale_before_us: int) -> ImportRecord | None:
    """Take the oldest queued job, or a running one whose process stopped beating."""
    row = conn.execute(
        "UPDATE imports SET status = 'running', heartbeat_us = ?1,"
        " started_us = coalesce(started_us, ?1) WHERE id = (SELECT id FROM imports"
        " WHERE status = 'queued' OR (status = 'running' AND heartbeat_us < ?2)"
        " ORDER BY created_us LIMIT 1) RETURNING id, workspace_id",
        (now_us, stale_before_us),
    ).fetchone()
    return get(conn, row[1], row[0]) if row else None


def store_batch(
    conn: sqlite3.Connection,
    record: ImportRecord,
    batch: sqlite_events.EventRows,
    received_us: int,
    resume: tuple[tuple[int, int], tuple[int, int]],
) -> tuple[int, int]:
    """Store one sorted slice of an import and move its resume point from ``resume[0]`` to
    ``resume[1]`` in the same transaction, so a crash never stores a slice twice nor skips one.
    A slice whose predecessor did not commit finds the resume point elsewhere and is refused:
    slices are queued ahead, so this is what keeps a failed one from leaving a gap.
    (new events, duplicates) stored."""
    (from_ts, from_row), (to_ts, to_row) = resume
    originals = sqlite_events.insert_events(conn, batch)
    duplicates = len(originals) - originals.count(None)
    moved = conn.execute(
        "UPDATE imports SET stored_ts = ?, stored_row = ?, accepted = accepted + ?,"
        " duplicates = duplicates + ?, heartbeat_us = ?"
        " WHERE id = ? AND stored_ts = ? AND stored_row = ?",
        (to_ts, to_row, len(originals), duplicates, received_us, record.id, from_ts, from_row),
    ).rowcount
    if moved != 1:
        raise ImportGap(f"import {record.id}: the slice before this one was not stored")
    return len(originals) - duplicates, duplicates
