"""Integration rows, the same SQL on SQLite and PostgreSQL: only the parameter marker differs
(the backend's ``Dialect``); these functions run on either driver's connection (both have
``execute(sql, params)``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from flokit.integrations.outcome import ProviderType
from flokit.integrations.records import (
    KEPT_ERRORS,
    DeliveryError,
    DeliveryRecord,
    Integration,
    IntegrationStats,
)
from flokit.integrations.registry import IntegrationSettings, StoredSecret
from flokit.model import ValidEvent
from flokit.store.readmodel_sql import Dialect

HOUR_US = 3600 * 1_000_000
TABLES = (
    "integration_hours",
    "integration_drops",
    "integration_errors",
    "integration_memory",
    "integrations",
)
_COLUMNS = (
    "i.id, i.workspace_id, w.public_id, i.type, i.keep_sandbox, i.settings, i.secret_hash,"
    " i.signing_secret, i.created_us FROM integrations i JOIN workspaces w ON w.id = i.workspace_id"
)
_settings = msgspec.json.Decoder(IntegrationSettings)


class Connection(Protocol):
    """Either driver's connection: sqlite3 and psycopg both answer ``execute`` with a cursor."""

    def execute(self, sql: Any, params: Any = ...) -> Any: ...


def insert(conn: Connection, d: Dialect, integration: Integration) -> None:
    conn.execute(
        d.q(
            "INSERT INTO integrations (id, workspace_id, type, keep_sandbox, settings,"
            " secret_hash, signing_secret, created_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        (
            integration.id,
            integration.workspace_id,
            integration.type.value,
            integration.keep_sandbox,
            msgspec.json.encode(integration.settings).decode(),
            integration.secret.secret_hash,
            integration.secret.signing_secret,
            integration.created_us,
        ),
    )


def find_by_secret(
    conn: Connection, d: Dialect, kind: ProviderType, secret_hash: str
) -> Integration | None:
    row = conn.execute(
        d.q(f"SELECT {_COLUMNS} WHERE i.secret_hash = ? AND i.type = ?"), (secret_hash, kind.value)
    ).fetchone()
    return _integration(row) if row else None


def get(conn: Connection, d: Dialect, integration_id: str) -> Integration | None:
    row = conn.execute(d.q(f"SELECT {_COLUMNS} WHERE i.id = ?"), (integration_id,)).fetchone()
    return _integration(row) if row else None


def list_for(conn: Connection, d: Dialect, workspace_id: int) -> list[Integration]:
    rows = conn.execute(
        d.q(f"SELECT {_COLUMNS} WHERE i.workspace_id = ? ORDER BY i.created_us, i.id"),
        (workspace_id,),
    ).fetchall()
    return [_integration(row) for row in rows]


def delete(conn: Connection, d: Dialect, integration_id: str) -> bool:
    """Forget the integration and everything kept for it; whether it existed."""
    for table in TABLES:
        if table != "integrations":
            conn.execute(d.q(f"DELETE FROM {table} WHERE integration_id = ?"), (integration_id,))
    cursor = conn.execute(d.q("DELETE FROM integrations WHERE id = ?"), (integration_id,))
    return bool(cursor.rowcount > 0)


def set_signing_secret(
    conn: Connection, d: Dialect, integration_id: str, signing_secret: str
) -> None:
    conn.execute(
        d.q("UPDATE integrations SET signing_secret = ? WHERE id = ?"),
        (signing_secret, integration_id),
    )


def recall(conn: Connection, d: Dialect, integration_id: str, key: str) -> str | None:
    row = conn.execute(
        d.q("SELECT value FROM integration_memory WHERE integration_id = ? AND key = ?"),
        (integration_id, key),
    ).fetchone()
    return str(row[0]) if row else None


def record_delivery(
    conn: Connection,
    d: Dialect,
    delivery: DeliveryRecord,
    events: Sequence[ValidEvent],
    originals: Sequence[str | None],
) -> None:
    """Count a delivery answered 200 (its new events: those not duplicates), keep what its
    mapper remembered and the errors worth showing, in the transaction of its events."""
    stored = [e.timestamp_us for e, o in zip(events, originals, strict=True) if o is None]
    iid, at_us = delivery.integration_id, delivery.received_us
    conn.execute(
        d.q(
            "UPDATE integrations SET events_total = events_total + ?, last_synced_us = ?,"
            " last_status = 200, last_error = NULL WHERE id = ?"
        ),
        (len(stored), at_us, iid),
    )
    if stored:
        conn.execute(
            d.q(
                "UPDATE integrations SET earliest_event_us = ? WHERE id = ?"
                " AND (earliest_event_us IS NULL OR earliest_event_us > ?)"
            ),
            (min(stored), iid, min(stored)),
        )
        conn.execute(
            d.q(
                "INSERT INTO integration_hours (integration_id, hour, events) VALUES (?, ?, ?)"
                " ON CONFLICT (integration_id, hour)"
                " DO UPDATE SET events = integration_hours.events + excluded.events"
            ),
            (iid, at_us // HOUR_US, len(stored)),
        )
    for reason, count in sorted(delivery.dropped.items()):
        conn.execute(
            d.q(
                "INSERT INTO integration_drops (integration_id, reason, count) VALUES (?, ?, ?)"
                " ON CONFLICT (integration_id, reason)"
                " DO UPDATE SET count = integration_drops.count + excluded.count"
            ),
            (iid, reason, count),
        )
    for key, value in sorted(delivery.memory.items()):
        conn.execute(
            d.q(
                "INSERT INTO integration_memory (integration_id, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (integration_id, key) DO UPDATE SET value = excluded.value"
            ),
            (iid, key, value),
        )
    for message in delivery.errors:
        add_error(conn, d, iid, DeliveryError(at_us, 200, message), refused=False)


def add_error(
    conn: Connection, d: Dialect, integration_id: str, error: DeliveryError, refused: bool
) -> None:
    """Keep one delivery error (the newest ``KEPT_ERRORS`` stay); a refused delivery is also
    the integration's last status."""
    if refused:
        conn.execute(
            d.q("UPDATE integrations SET last_status = ?, last_error = ? WHERE id = ?"),
            (error.status, error.message, integration_id),
        )
    conn.execute(
        d.q(
            "INSERT INTO integration_errors (integration_id, at_us, status, message)"
            " VALUES (?, ?, ?, ?)"
        ),
        (integration_id, error.at_us, error.status, error.message[:500]),
    )
    conn.execute(
        d.q(
            "DELETE FROM integration_errors WHERE integration_id = ? AND at_us < (SELECT"
            " min(at_us) FROM (SELECT at_us FROM integration_errors WHERE integration_id = ?"
            f" ORDER BY at_us DESC LIMIT {KEPT_ERRORS}) AS newest)"
        ),
        (integration_id, integration_id),
    )


def stats(conn: Connection, d: Dialect, integration_id: str, now_us: int) -> IntegrationStats:
    row = conn.execute(
        d.q(
            "SELECT events_total, earliest_event_us, last_synced_us, last_status, last_error"
            " FROM integrations WHERE id = ?"
        ),
        (integration_id,),
    ).fetchone()
    recent = conn.execute(
        d.q(
            "SELECT coalesce(sum(events), 0) FROM integration_hours"
            " WHERE integration_id = ? AND hour > ?"
        ),
        (integration_id, now_us // HOUR_US - 24),
    ).fetchone()
    drops = conn.execute(
        d.q("SELECT reason, count FROM integration_drops WHERE integration_id = ?"),
        (integration_id,),
    ).fetchall()
    errors = conn.execute(
        d.q(
            "SELECT at_us, status, message FROM integration_errors WHERE integration_id = ?"
            f" ORDER BY at_us DESC LIMIT {KEPT_ERRORS}"
        ),
        (integration_id,),
    ).fetchall()
    total, earliest, synced, status, error = row if row else (0, None, None, None, None)
    return IntegrationStats(
        int(total),
        int(recent[0]) if recent else 0,
        earliest,
        synced,
        status,
        error,
        {str(reason): int(count) for reason, count in drops},
        [DeliveryError(int(a), int(s), str(m)) for a, s, m in errors],
    )


def _integration(row: Sequence[Any]) -> Integration:
    return Integration(
        id=row[0],
        workspace_id=int(row[1]),
        workspace_public_id=row[2],
        type=ProviderType(row[3]),
        keep_sandbox=bool(row[4]),
        settings=_settings.decode(row[5]),
        secret=StoredSecret(row[6], row[7]),
        created_us=int(row[8]),
    )
