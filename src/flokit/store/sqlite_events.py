"""Event rows in SQLite: the write job (duplicates + insert) and the read queries."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

from flokit.model import EventQuery, StoredEvent, ValidEvent

_CHUNK = 500  # keys per IN (...) look-up, well under SQLite's variable limit
_COLUMNS = (
    "seq, event_id, event, user_id, anonymous_id, timestamp_us, received_us, properties, insert_id"
)
_INSERT_EVENT = (
    "INSERT INTO events (workspace_id, event_id, event, user_id, anonymous_id, timestamp_us,"
    " received_us, properties, insert_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_KEY = "INSERT INTO dedup_keys (workspace_id, key, event_id, expires_us) VALUES (?, ?, ?, ?)"


def _keys(event: ValidEvent) -> tuple[str | None, str | None]:
    """The event's duplicate keys: (revenue transaction key, insert_id key)."""
    txn = f"t:{event.event}\x1f{event.transaction_id}" if event.transaction_id is not None else None
    ins = f"i:{event.insert_id}" if event.insert_id is not None else None
    return txn, ins


def insert_events(
    conn: sqlite3.Connection,
    workspace_id: int,
    events: Sequence[ValidEvent],
    ids: Sequence[str],
    received_us: int,
    insert_id_expires_us: int,
) -> list[str | None]:
    """Store the events that are new; for each event, the id of its original if a duplicate."""
    keys = [_keys(e) for e in events]
    seen = _existing(conn, workspace_id, {k for pair in keys for k in pair if k is not None})
    originals: list[str | None] = []
    rows: list[tuple[object, ...]] = []
    key_rows: list[tuple[int, str, str, int | None]] = []
    for event, event_id, (txn, ins) in zip(events, ids, keys, strict=True):
        original = (txn and seen.get(txn)) or (ins and seen.get(ins)) or None
        originals.append(original)
        if original is not None:
            continue
        rows.append(
            (
                workspace_id,
                event_id,
                event.event,
                event.user_id,
                event.anonymous_id,
                event.timestamp_us,
                received_us,
                event.properties,
                event.insert_id,
            )
        )
        if txn is not None:
            seen[txn] = event_id
            key_rows.append((workspace_id, txn, event_id, None))
        if ins is not None:
            seen[ins] = event_id
            key_rows.append((workspace_id, ins, event_id, insert_id_expires_us))
    conn.executemany(_INSERT_EVENT, rows)
    if key_rows:
        conn.executemany(_INSERT_KEY, key_rows)
    return originals


def _existing(conn: sqlite3.Connection, workspace_id: int, keys: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    ordered = list(keys)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT key, event_id FROM dedup_keys WHERE workspace_id = ? AND key IN ({marks})"
        found.update(conn.execute(sql, (workspace_id, *chunk)).fetchall())
    return found


def prune_dedup_keys(conn: sqlite3.Connection, now_us: int, limit: int = 5000) -> int:
    """Forget up to ``limit`` expired insert_id keys; the count forgotten."""
    cursor = conn.execute(
        "DELETE FROM dedup_keys WHERE (workspace_id, key) IN (SELECT workspace_id, key"
        " FROM dedup_keys WHERE expires_us < ? LIMIT ?)",
        (now_us, limit),
    )
    return cursor.rowcount


def query_events(conn: sqlite3.Connection, query: EventQuery) -> list[StoredEvent]:
    """Up to ``query.limit`` events, newest received first (by ``seq``), matching the filters."""
    where, args = _where(query)
    sql = f"SELECT {_COLUMNS} FROM events WHERE {where} ORDER BY seq DESC LIMIT ?"
    return [StoredEvent(*row) for row in conn.execute(sql, (*args, query.limit))]


def _where(query: EventQuery) -> tuple[str, list[object]]:
    clauses: list[str] = ["workspace_id = ?"]
    args: list[object] = [query.workspace_id]
    for clause, value in _filters(query):
        if value is not None:
            clauses.append(clause)
            args.append(value)
    return " AND ".join(clauses), args


def _filters(query: EventQuery) -> Iterator[tuple[str, object]]:
    yield "seq < ?", query.before_seq
    yield "event = ?", query.event
    yield "user_id = ?", query.user_id
    yield "anonymous_id = ?", query.anonymous_id
    yield "timestamp_us >= ?", query.since_us
    yield "timestamp_us < ?", query.until_us


def get_event(conn: sqlite3.Connection, workspace_id: int, event_id: str) -> StoredEvent | None:
    """One event of the workspace by its evt_ id."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE event_id = ? AND workspace_id = ?",
        (event_id, workspace_id),
    ).fetchone()
    return StoredEvent(*row) if row else None
