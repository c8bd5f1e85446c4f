"""Event rows in SQLite: the write job (duplicates + insert) and the read queries."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

import msgspec

from flokit.model import EventQuery, StoredEvent, ValidEvent

_COLUMNS = (
    "seq, event_id, event, user_id, anonymous_id, timestamp_us, received_us, properties, insert_id"
)
# Rows travel as one JSON array per statement: SQLite unpacks them with json_each in C, so a whole
# batch is inserted in one step without the GIL, and the request thread keeps validating.
_INSERT_EVENTS = (
    "INSERT INTO events (workspace_id, event_id, event, user_id, anonymous_id, timestamp_us,"
    " received_us, properties, insert_id) SELECT ?1, value->>0, value->>1, value->>2, value->>3,"
    " value->>4, ?2, value->>5, value->>6 FROM json_each(?3)"
)
_INSERT_KEYS = (
    "INSERT INTO dedup_keys (workspace_id, key, event_id, expires_us)"
    " SELECT ?1, value->>0, value->>1, value->>2 FROM json_each(?2)"
)
_FIND_KEYS = (
    "SELECT key, event_id FROM dedup_keys"
    " WHERE workspace_id = ?1 AND key IN (SELECT value FROM json_each(?2))"
)
_encoder = msgspec.json.Encoder()


def _json(value: object) -> str:
    """JSON text (SQLite's json_each refuses blobs)."""
    return _encoder.encode(value).decode()


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
    wanted = [k for pair in keys for k in pair if k is not None]
    seen = (
        dict(conn.execute(_FIND_KEYS, (workspace_id, _json(wanted))).fetchall()) if wanted else {}
    )
    originals: list[str | None] = []
    rows: list[tuple[object, ...]] = []
    key_rows: list[tuple[str, str, int | None]] = []
    for event, event_id, (txn, ins) in zip(events, ids, keys, strict=True):
        original = (txn and seen.get(txn)) or (ins and seen.get(ins)) or None
        originals.append(original)
        if original is not None:
            continue
        rows.append(
            (
                event_id,
                event.event,
                event.user_id,
                event.anonymous_id,
                event.timestamp_us,
                _text(event.properties),
                event.insert_id,
            )
        )
        if txn is not None:
            seen[txn] = event_id
            key_rows.append((txn, event_id, None))
        if ins is not None:
            seen[ins] = event_id
            key_rows.append((ins, event_id, insert_id_expires_us))
    if rows:
        conn.execute(_INSERT_EVENTS, (workspace_id, received_us, _json(rows)))
    if key_rows:
        conn.execute(_INSERT_KEYS, (workspace_id, _json(key_rows)))
    return originals


def _text(properties: bytes | None) -> str | None:
    """Properties travel as a JSON string inside the row array, so they are stored byte-exact."""
    return properties.decode() if properties is not None else None


def prune_expired(conn: sqlite3.Connection, now_us: int, limit: int = 5000) -> int:
    """Forget up to ``limit`` expired insert_id keys and idempotency responses; how many."""
    forgotten = 0
    for table in ("dedup_keys", "idempotency"):
        cursor = conn.execute(
            f"DELETE FROM {table} WHERE (workspace_id, key) IN (SELECT workspace_id, key"
            f" FROM {table} WHERE expires_us < ? LIMIT ?)",
            (now_us, limit),
        )
        forgotten += cursor.rowcount
    return forgotten


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
