"""API key secrets (contract §8): ``fk_rw_``/``fk_ro_`` + 32 base62 chars, kept as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import string
import time

from flokit.model import ApiKey, IssuedKey, KeyKind

_BASE62 = string.digits + string.ascii_letters
_PREFIX = {KeyKind.READ_WRITE: "fk_rw_", KeyKind.READ_ONLY: "fk_ro_"}


def new_secret(kind: KeyKind) -> str:
    """A fresh key secret of the given kind."""
    return _PREFIX[kind] + "".join(secrets.choice(_BASE62) for _ in range(32))


def hash_secret(secret: str) -> str:
    """The only form in which a key is kept: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(workspace_id: int, workspace_public_id: str, kind: KeyKind) -> tuple[IssuedKey, str]:
    """A new key of the workspace, and the hash the store keeps of it (every backend stores the
    same ``api_keys`` row: key_id, workspace, hash, kind, created)."""
    secret = new_secret(kind)
    created_us = time.time_ns() // 1000
    key = ApiKey(new_public_id("key_"), workspace_id, workspace_public_id, kind, created_us, None)
    return IssuedKey(key, secret), hash_secret(secret)


def new_public_id(prefix: str) -> str:
    """An opaque, unguessable identifier such as ``ws_…`` or ``key_…``."""
    return prefix + "".join(secrets.choice(_BASE62) for _ in range(16))
