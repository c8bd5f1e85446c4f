"""Event rows in PostgreSQL: the insert with its duplicate keys, the read queries, pruning.

Duplicates are found by the ``dedup_keys`` primary key, never by looking first: a batch claims
its keys with ``INSERT … ON CONFLICT`` and learns from what it did not get which events repeat
one stored elsewhere, however many nodes append at once. Keys are claimed in sorted order, so
two batches that share keys wait for each other instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from flokit.model import EventQuery, StoredEvent, ValidEvent
from flokit.pipeline.duplicates import Keys, duplicate_keys
from flokit.pipeline.duplicates import originals as find_originals
from flokit.store.postgres.connections import Connection
from flokit.store.queries import STORED_EVENT_COLUMNS, event_filters

_COLUMNS = STORED_EVENT_COLUMNS
#: Events go in by binary COPY: less CPU on this side than building array parameters
#: (sequential appends, alternated: 7.6 against 9.0 ms a 1,000-event batch; bench/drivers.py:
#: 68.9k rows/s against 55.9k).
_COPY_EVENTS = (
    "COPY events (workspace_id, event_id, event, user_id, anonymous_id, timestamp_us,"
    " received_us, properties, insert_id) FROM STDIN (FORMAT BINARY)"
)
_EVENT_TYPES = ["int8", "text", "text", "text", "text", "int8", "int8", "text", "text"]
# An insert_id key that expired is free again (taken over in place); a transaction key's
# expiry is NULL, so it never is. ON CONFLICT locks the row it did not take until commit.
_CLAIM_KEYS = (
    "INSERT INTO dedup_keys (workspace_id, key, event_id, expires_us)"
    " SELECT %s, k, e, x FROM unnest(%b::text[], %b::text[], %b::bigint[]) AS r(k, e, x)"
    " ON CONFLICT (workspace_id, key) DO UPDATE"
    " SET event_id = EXCLUDED.event_id, expires_us = EXCLUDED.expires_us"
    " WHERE dedup_keys.expires_us < %s RETURNING key"
)
_FIND_KEYS = (
    "SELECT key, event_id FROM dedup_keys WHERE workspace_id = %s AND key = ANY(%b::text[])"
)
_DROP_KEYS = "DELETE FROM dedup_keys WHERE workspace_id = %s AND key = ANY(%b::text[])"
_MOVE_KEYS = (
    "UPDATE dedup_keys d SET event_id = r.e FROM unnest(%b::text[], %b::text[]) AS r(k, e)"
    " WHERE d.workspace_id = %s AND d.key = r.k"
)
#: Rows each prune statement forgets per table: short transactions, a slice at a time.
PRUNE_LIMIT = 5000


@dataclass(frozen=True, slots=True)
class EventRows:
    """A batch made ready before its transaction (in the caller's thread): its duplicate keys
    and its rows as one list per column (COPY takes them zipped into rows)."""

    workspace_id: int
    ids: Sequence[str]
    keys: list[Keys]
    columns: list[list[Any]]  # event, user_id, anonymous_id, timestamp_us, properties, insert_id
    received_us: int
    insert_id_expires_us: int


def prepare(
    workspace_id: int,
    events: Sequence[ValidEvent],
    ids: Sequence[str],
    received_us: int,
    insert_id_expires_us: int,
) -> EventRows:
    """``events`` with their new ``ids`` as rows to insert, in the same order."""
    columns: list[list[Any]] = [
        [e.event for e in events],
        [e.user_id for e in events],
        [e.anonymous_id for e in events],
        [e.timestamp_us for e in events],
        [None if e.properties is None else e.properties.decode() for e in events],
        [e.insert_id for e in events],
    ]
    keys = [duplicate_keys(e) for e in events]
    return EventRows(workspace_id, ids, keys, columns, received_us, insert_id_expires_us)


def insert_events(conn: Connection, batch: EventRows) -> list[str | None]:
    """Store the events that are new; for each event, the id of its original if a duplicate."""
    originals = claim_keys(conn, batch)
    keep = [i for i, original in enumerate(originals) if original is None]
    if not keep:
        return originals
    ids, columns = list(batch.ids), batch.columns
    if len(keep) < len(ids):
        ids = [ids[i] for i in keep]
        columns = [[column[i] for i in keep] for column in columns]
    # Rows in the COPY's column order; the constants repeat (hence strict=False).
    rows = zip(
        repeat(batch.workspace_id),
        ids,
        *columns[:4],  # event, user_id, anonymous_id, timestamp_us
        repeat(batch.received_us),
        *columns[4:],  # properties, insert_id
        strict=False,
    )
    with conn.cursor().copy(_COPY_EVENTS) as copy:
        copy.set_types(_EVENT_TYPES)
        for row in rows:
            copy.write_row(row)
    return originals


def claim_keys(conn: Connection, batch: EventRows) -> list[str | None]:
    """Take the duplicate keys of the batch's new events; per event, its original's id.

    A key not taken is held by an event stored elsewhere, which the batch's event repeats.
    That can make a batch event a duplicate after it took its other key, which then belongs
    to a later event of the batch, or to none: claim until every key the new events need is
    settled (almost always one round), then hand the keys taken to their final owners."""
    held: dict[str, str] = {}  # keys this transaction took, each with the event it names
    taken: dict[str, str] = {}  # keys stored events hold, each with that event's id
    while True:
        originals = find_originals(batch.ids, batch.keys, dict(taken))
        owners = _owners(batch, originals)
        missing = sorted(key for key in owners if key not in held and key not in taken)
        if not missing:
            break
        won = _claim(conn, batch, missing, owners)
        held.update((key, owners[key]) for key in won)
        lost = [key for key in missing if key not in won]
        if not lost:  # nothing changed what repeats what: every key needed is now held
            break
        taken.update(find_keys(conn, batch.workspace_id, lost))
    _settle(conn, batch.workspace_id, held, owners)
    return originals


def _owners(batch: EventRows, originals: list[str | None]) -> dict[str, str]:
    """Every duplicate key of the events to store, with the event's id."""
    return {
        key: event_id
        for event_id, pair, original in zip(batch.ids, batch.keys, originals, strict=True)
        if original is None
        for key in pair
        if key is not None
    }


def _claim(conn: Connection, batch: EventRows, keys: list[str], owners: dict[str, str]) -> set[str]:
    """Insert the rows of ``keys`` (sorted) for their owners; the keys this took."""
    expiry = batch.insert_id_expires_us
    rows = conn.execute(
        _CLAIM_KEYS,
        (
            batch.workspace_id,
            keys,
            [owners[key] for key in keys],
            [None if key.startswith("t:") else expiry for key in keys],
            batch.received_us,
        ),
    ).fetchall()
    return {row[0] for row in rows}


def _settle(
    conn: Connection, workspace_id: int, held: dict[str, str], owners: dict[str, str]
) -> None:
    """Point the keys taken at their final owners and drop those no stored event has (rows
    this transaction holds already: nothing waits here)."""
    dropped = sorted(key for key in held if key not in owners)
    moved = sorted(key for key, event_id in held.items() if owners.get(key, event_id) != event_id)
    if dropped:
        conn.execute(_DROP_KEYS, (workspace_id, dropped))
    if moved:
        conn.execute(_MOVE_KEYS, (moved, [owners[key] for key in moved], workspace_id))


def find_keys(conn: Connection, workspace_id: int, keys: list[str]) -> dict[str, str]:
    """Which of ``keys`` the workspace holds, with the id of the event that has each."""
    rows = conn.execute(_FIND_KEYS, (workspace_id, keys)).fetchall()
    return {key: event_id for key, event_id in rows}


def prune_expired(conn: Connection, now_us: int, limit: int = PRUNE_LIMIT) -> int:
    """Forget up to ``limit`` expired rows of each expiring table; how many. Rows a writer
    holds are skipped, not waited for, and the expiry is checked again on the row deleted, so
    a key an append has just renewed stays."""
    forgotten = 0
    for table in ("dedup_keys", "idempotency", "inflight"):
        cursor = conn.execute(
            f"DELETE FROM {table} t WHERE (t.workspace_id, t.key) IN (SELECT workspace_id, key"
            f" FROM {table} WHERE expires_us < %s LIMIT %s FOR UPDATE SKIP LOCKED)"
            " AND t.expires_us < %s",
            (now_us, limit, now_us),
        )
        forgotten += cursor.rowcount
    return forgotten


def query_events(conn: Connection, query: EventQuery) -> list[StoredEvent]:
    """Up to ``query.limit`` events, newest received first (by ``seq``), matching the filters."""
    where, args = event_filters(query, "%s")
    sql = f"SELECT {_COLUMNS} FROM events WHERE {where} ORDER BY seq DESC LIMIT %s"
    return [_event(row) for row in conn.execute(sql, (*args, query.limit))]


def get_event(conn: Connection, workspace_id: int, event_id: str) -> StoredEvent | None:
    """One event of the workspace by its evt_ id."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE event_id = %s AND workspace_id = %s",
        (event_id, workspace_id),
    ).fetchone()
    return _event(row) if row else None


def _event(row: Sequence[Any]) -> StoredEvent:
    """A row as stored (properties are the JSON text exactly as received)."""
    return StoredEvent(*row)
