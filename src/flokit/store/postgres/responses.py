"""Idempotency-Key responses in PostgreSQL: found by the request stage, written by the append.

The response row is what keeps a key's events from being stored twice: it commits with them,
and a second transaction that tries to write it while the first is live gets nothing back from
its ``INSERT … ON CONFLICT`` and rolls its events back (see ``PostgresStore.append``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from flokit.model import IdempotencyClaim, Rendered, StoredResponse
from flokit.store.postgres.connections import Connection

_SELECT = "SELECT fingerprint, status, body, headers FROM idempotency"
_FIND = f"{_SELECT} WHERE workspace_id = %s AND key = %s AND expires_us > %s"
_LOAD = f"{_SELECT} WHERE workspace_id = %s AND key = %s"
# An expired row may linger until pruned: replacing it is a fresh request, as intended.
_SAVE = (
    "INSERT INTO idempotency (workspace_id, key, fingerprint, status, body, headers, expires_us)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (workspace_id, key) DO UPDATE"
    " SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status, body = EXCLUDED.body,"
    " headers = EXCLUDED.headers, expires_us = EXCLUDED.expires_us"
    " WHERE idempotency.expires_us <= %s RETURNING 1"
)


def find_response(
    conn: Connection, workspace_id: int, key: str, now_us: int
) -> StoredResponse | None:
    """The live response kept for (workspace, key), if any."""
    row = conn.execute(_FIND, (workspace_id, key, now_us)).fetchone()
    return _response(row) if row else None


def save_response(
    conn: Connection,
    workspace_id: int,
    claim: IdempotencyClaim,
    rendered: Rendered,
    now_us: int,
) -> StoredResponse | None:
    """Keep a 200 for replays, in the transaction that stored its events. If a live response
    is there already (a concurrent request with the key committed first), keep nothing and
    return that one: the caller must then roll its transaction back."""
    headers = msgspec.json.encode(rendered.headers).decode()
    params = (workspace_id, claim.key, claim.fingerprint, 200, rendered.body, headers)
    if conn.execute(_SAVE, (*params, claim.expires_us, now_us)).fetchone() is not None:
        return None
    # The conflicting row is locked by the INSERT above, so it is still there to read.
    row = conn.execute(_LOAD, (workspace_id, claim.key)).fetchone()
    if row is None:
        raise RuntimeError(f"idempotency key {claim.key!r}: its response vanished while locked")
    return _response(row)


def _response(row: Sequence[Any]) -> StoredResponse:
    headers = msgspec.json.decode(row[3], type=dict[str, str])
    return StoredResponse(bytes(row[0]), row[1], bytes(row[2]), headers)
