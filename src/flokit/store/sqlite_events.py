"""Event rows in SQLite: the write job (duplicates + insert) and the read queries."""

from __future__ import annotations

import functools
import operator
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from flokit.model import EventQuery, StoredEvent, ValidEvent
from flokit.pipeline.duplicates import Keys, duplicate_keys
from flokit.pipeline.duplicates import originals as find_originals
from flokit.store.queries import STORED_EVENT_COLUMNS, event_filters

_COLUMNS = STORED_EVENT_COLUMNS
_EVENT_COLUMNS = (
    "workspace_id, event_id, event, user_id, anonymous_id, timestamp_us, received_us,"
    " properties, insert_id"
)
_KEY_COLUMNS = "workspace_id, key, event_id, expires_us"
#: One row's placeholders. Properties are bound as their UTF-8 bytes and made text by SQLite,
#: byte-exact and without a Python decode per event.
_EVENT_ROW = "(?,?,?,?,?,?,?,CAST(? AS TEXT),?)"
_KEY_ROW = "(?,?,?,?)"
_EVENT_WIDTH = 9
#: Rows per multi-row ``INSERT ... VALUES``: one statement binds a thousand rows in C and runs
#: them in one step without the GIL (measured 2.3x the rows/s of ``json_each`` unpacking and
#: 1.6x ``executemany``, which re-takes the GIL per row); 9,000 parameters, far under SQLite's
#: limit of 32,766.
ROWS_PER_STATEMENT = 1000
_FIND_KEYS = (
    "SELECT key, event_id FROM dedup_keys"
    " WHERE workspace_id = ?1 AND key IN (SELECT value FROM json_each(?2))"
)
_encoder = msgspec.json.Encoder()

Statement = tuple[str, list[Any]]
_by_key = operator.itemgetter(1)


@dataclass(frozen=True, slots=True)
class EventRows:
    """A batch made ready for ``insert_events`` before the write transaction: its duplicate
    keys, and the insert statements of its rows with their parameters bound in order. Built by
    the caller's thread, so the one writer thread spends its time in SQLite, not in Python."""

    workspace_id: int
    ids: Sequence[str]
    keys: list[Keys]
    values: list[Any]  # every event's row, in order, flattened (``_EVENT_WIDTH`` apiece)
    inserts: list[Statement]  # the rows and their duplicate keys, when none is a duplicate
    wanted_json: str | None  # every duplicate key of the batch, to look up (None: none)
    repeats: bool  # a key appears twice within the batch
    insert_id_expires_us: int


def prepare(
    workspace_id: int,
    events: Sequence[ValidEvent],
    ids: Sequence[str],
    received_us: int,
    insert_id_expires_us: int,
) -> EventRows:
    """``events`` with their new ``ids`` as rows to insert, in the same order."""
    keys = [duplicate_keys(e) for e in events]
    values: list[Any] = []
    for e, event_id in zip(events, ids, strict=True):  # one flat list: half the time of rows
        values += (
            workspace_id,
            event_id,
            e.event,
            e.user_id,
            e.anonymous_id,
            e.timestamp_us,
            received_us,
            e.properties,
            e.insert_id,
        )
    wanted = [k for pair in keys for k in pair if k is not None]
    return EventRows(
        workspace_id,
        ids,
        keys,
        values,
        _inserts(values, _key_rows(workspace_id, ids, keys, insert_id_expires_us)),
        _encoder.encode(wanted).decode() if wanted else None,
        len(set(wanted)) < len(wanted),
        insert_id_expires_us,
    )


def _key_rows(
    workspace_id: int,
    ids: Iterable[str | None],
    keys: Iterable[Keys],
    expires_us: int,
) -> list[tuple[Any, ...]]:
    """The dedup_keys rows of the events stored (``None`` ids are duplicates, left out):
    transaction keys are kept for ever, insert_id keys until ``expires_us``."""
    key_rows: list[tuple[Any, ...]] = []
    for event_id, (txn, ins) in zip(ids, keys, strict=True):
        if event_id is None:
            continue
        if txn is not None:
            key_rows.append((workspace_id, txn, event_id, None))
        if ins is not None:
            key_rows.append((workspace_id, ins, event_id, expires_us))
    key_rows.sort(key=_by_key)  # in index order: each B-tree page is visited once (-25% time)
    return key_rows


def _inserts(values: list[Any], key_rows: list[tuple[Any, ...]]) -> list[Statement]:
    return [
        *_values_statements("events", _EVENT_COLUMNS, _EVENT_ROW, values),
        *_values_statements(
            "dedup_keys", _KEY_COLUMNS, _KEY_ROW, [v for row in key_rows for v in row]
        ),
    ]


def _values_statements(table: str, columns: str, row: str, values: list[Any]) -> list[Statement]:
    """Multi-row inserts of the rows in ``values`` (flattened, ``row`` gives the placeholders
    of one): full statements of ``ROWS_PER_STATEMENT`` rows, the rest in power-of-two sizes.
    Every distinct statement text is a prepared statement kept in the connection's cache
    (hundreds of KB at this size), so only a dozen sizes may ever exist; one per batch size
    made memory creep for the length of an import."""
    width = row.count("?")
    statements = []
    start, count = 0, len(values) // width
    while start < count:
        size = _statement_rows(count - start)
        sql = _values_sql(table, columns, row, size)
        statements.append((sql, values[start * width : (start + size) * width]))
        start += size
    return statements


def compile_inserts(conn: sqlite3.Connection) -> None:
    """Compile every insert statement a batch can use, once, when the writer connects: each
    stays in the connection's statement cache (0.85 MB for a thousand event rows), so their
    memory is spent at start rather than as rarer batch sizes turn up during a long import.
    The rows inserted to compile them are rolled back."""
    sizes = [ROWS_PER_STATEMENT, *(1 << k for k in range(ROWS_PER_STATEMENT.bit_length()))]
    conn.execute("SAVEPOINT compile_inserts")
    try:
        for size in sizes:
            names = [f"compile_{size}_{i}" for i in range(size)]
            values = [
                v for name in names for v in (0, name, "compile", None, None, 0, 0, None, None)
            ]
            keys = [(0, name, "compile", None) for name in names]
            for sql, params in _inserts(values, keys):
                conn.execute(sql, params)
    finally:
        conn.execute("ROLLBACK TO compile_inserts")
        conn.execute("RELEASE compile_inserts")


def _statement_rows(left: int) -> int:
    """How many of ``left`` rows the next statement takes: all it can, or the largest power
    of two that fits."""
    return ROWS_PER_STATEMENT if left >= ROWS_PER_STATEMENT else 1 << (left.bit_length() - 1)


@functools.lru_cache(maxsize=32)  # the 22 statements compile_inserts makes
def _values_sql(table: str, columns: str, row: str, count: int) -> str:
    return f"INSERT INTO {table} ({columns}) VALUES " + ",".join([row] * count)


def insert_events(conn: sqlite3.Connection, batch: EventRows) -> list[str | None]:
    """Store the events that are new; for each event, the id of its original if a duplicate.
    A batch without duplicates (the usual case) is inserted as prepared."""
    found: list[tuple[str, str]] = []
    if batch.wanted_json is not None:
        found = conn.execute(_FIND_KEYS, (batch.workspace_id, batch.wanted_json)).fetchall()
    inserts = batch.inserts
    originals: list[str | None] = [None] * len(batch.ids)
    if found or batch.repeats:
        originals = find_originals(batch.ids, batch.keys, dict(found))
        stored_ids = [e if o is None else None for e, o in zip(batch.ids, originals, strict=True)]
        values, w = batch.values, _EVENT_WIDTH
        new_values = [
            v
            for i, id_ in enumerate(stored_ids)
            if id_ is not None
            for v in values[i * w : (i + 1) * w]
        ]
        key_rows = _key_rows(batch.workspace_id, stored_ids, batch.keys, batch.insert_id_expires_us)
        inserts = _inserts(new_values, key_rows)
    for sql, values in inserts:
        conn.execute(sql, values)
    return originals


def find_keys(conn: sqlite3.Connection, workspace_id: int, keys: list[str]) -> dict[str, str]:
    """Which of ``keys`` the workspace holds already, with the id of the event that has each."""
    return dict(conn.execute(_FIND_KEYS, (workspace_id, _encoder.encode(keys).decode())))


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
    where, args = event_filters(query, "?")
    sql = f"SELECT {_COLUMNS} FROM events WHERE {where} ORDER BY seq DESC LIMIT ?"
    return [StoredEvent(*row) for row in conn.execute(sql, (*args, query.limit))]


def get_event(conn: sqlite3.Connection, workspace_id: int, event_id: str) -> StoredEvent | None:
    """One event of the workspace by its evt_ id."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE event_id = ? AND workspace_id = ?",
        (event_id, workspace_id),
    ).fetchone()
    return StoredEvent(*row) if row else None
