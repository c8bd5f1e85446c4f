"""Workspaces and API keys in PostgreSQL (the CLI's commands, and the per-request key lookup)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from flokit import keys as keygen
from flokit.model import ApiKey, IssuedKey, KeyKind, Workspace
from flokit.store.postgres.connections import Connection

_KEY_COLUMNS = (
    "k.key_id, k.workspace_id, w.public_id, k.kind, k.created_us, k.revoked_us,"
    " w.requests_per_minute FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id"
)
_FIND_KEY = f"SELECT {_KEY_COLUMNS} WHERE k.key_hash = %s AND k.revoked_us IS NULL"
# Locks the key: two revocations (or rotations) of one key at once, and only one finds it live.
_LIVE_KEY = f"SELECT {_KEY_COLUMNS} WHERE k.key_id = %s AND k.revoked_us IS NULL FOR UPDATE OF k"
_REVOKE = "UPDATE api_keys SET revoked_us = %s WHERE key_id = %s"


def _now_us() -> int:
    return time.time_ns() // 1000


def _key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(row[0], row[1], row[2], KeyKind(row[3]), row[4], row[5], row[6])


def find_key(conn: Connection, key_hash: str) -> ApiKey | None:
    """The live (not revoked) key with this hash, with its workspace's own limit."""
    row = conn.execute(_FIND_KEY, (key_hash,)).fetchone()
    return _key(row) if row else None


def create_workspace(conn: Connection, name: str) -> tuple[Workspace, IssuedKey]:
    """A new workspace with its first read-write key."""
    public_id, created_us = keygen.new_public_id("ws_"), _now_us()
    row = conn.execute(
        "INSERT INTO workspaces (public_id, name, created_us) VALUES (%s, %s, %s) RETURNING id",
        (public_id, name, created_us),
    ).fetchone()
    assert row is not None  # RETURNING of a one-row INSERT
    workspace = Workspace(int(row[0]), public_id, name, created_us)
    return workspace, insert_key(conn, workspace.id, public_id, KeyKind.READ_WRITE)


def find_workspace(conn: Connection, public_id: str) -> Workspace | None:
    row = conn.execute(
        "SELECT id, public_id, name, created_us FROM workspaces WHERE public_id = %s",
        (public_id,),
    ).fetchone()
    return Workspace(*row) if row else None


def count_workspaces(conn: Connection) -> int:
    row = conn.execute("SELECT count(*) FROM workspaces").fetchone()
    return int(row[0]) if row else 0


def set_limit(conn: Connection, workspace_id: int, requests_per_minute: int | None) -> None:
    conn.execute(
        "UPDATE workspaces SET requests_per_minute = %s WHERE id = %s",
        (requests_per_minute, workspace_id),
    )


def list_keys(conn: Connection, workspace_id: int) -> list[ApiKey]:
    rows = conn.execute(
        f"SELECT {_KEY_COLUMNS} WHERE k.workspace_id = %s ORDER BY k.created_us", (workspace_id,)
    )
    return [_key(row) for row in rows]


def revoke_key(conn: Connection, key_id: str) -> ApiKey | None:
    """Revoke a live key; the key as it was, or None when there is no such live key."""
    row = conn.execute(_LIVE_KEY, (key_id,)).fetchone()
    if row is None:
        return None
    conn.execute(_REVOKE, (_now_us(), key_id))
    return _key(row)


def rotate_key(conn: Connection, key_id: str) -> IssuedKey | None:
    """Replace a live key by a new one of the same kind; the old one stops working at once."""
    old = revoke_key(conn, key_id)
    if old is None:
        return None
    return insert_key(conn, old.workspace_id, old.workspace_public_id, old.kind)


def insert_key(
    conn: Connection, workspace_id: int, workspace_public_id: str, kind: KeyKind
) -> IssuedKey:
    issued, key_hash = keygen.issue(workspace_id, workspace_public_id, kind)
    key = issued.key
    conn.execute(
        "INSERT INTO api_keys (key_id, workspace_id, key_hash, kind, created_us)"
        " VALUES (%s, %s, %s, %s, %s)",
        (key.key_id, workspace_id, key_hash, kind.value, key.created_us),
    )
    return issued
