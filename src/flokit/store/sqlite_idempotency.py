"""Idempotency-Key responses in SQLite: found by the request stage, written by the append job."""

from __future__ import annotations

import sqlite3

import msgspec

from flokit.model import IdempotencyClaim, Rendered, StoredResponse

_FIND = (
    "SELECT fingerprint, status, body, headers FROM idempotency"
    " WHERE workspace_id = ? AND key = ? AND expires_us > ?"
)
# An expired row may linger until pruned: replacing it is a fresh request, as intended.
_SAVE = (
    "INSERT OR REPLACE INTO idempotency"
    " (workspace_id, key, fingerprint, status, body, headers, expires_us)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def find_response(
    conn: sqlite3.Connection, workspace_id: int, key: str, now_us: int
) -> StoredResponse | None:
    """The live response kept for (workspace, key), if any."""
    row = conn.execute(_FIND, (workspace_id, key, now_us)).fetchone()
    if row is None:
        return None
    headers = msgspec.json.decode(row[3], type=dict[str, str])
    return StoredResponse(bytes(row[0]), row[1], bytes(row[2]), headers)


def save_response(
    conn: sqlite3.Connection, workspace_id: int, claim: IdempotencyClaim, rendered: Rendered
) -> None:
    """Keep a 200 for replays, in the transaction that stored its events."""
    headers = msgspec.json.encode(rendered.headers).decode()
    conn.execute(
        _SAVE,
        (workspace_id, claim.key, claim.fingerprint, 200, rendered.body, headers, claim.expires_us),
    )
