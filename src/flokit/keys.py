"""API key secrets (contract §8): ``fk_rw_``/``fk_ro_`` + 32 base62 chars, kept as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import string

from flokit.model import KeyKind

_BASE62 = string.digits + string.ascii_letters
_PREFIX = {KeyKind.READ_WRITE: "fk_rw_", KeyKind.READ_ONLY: "fk_ro_"}


def new_secret(kind: KeyKind) -> str:
    """A fresh key secret of the given kind."""
    return _PREFIX[kind] + "".join(secrets.choice(_BASE62) for _ in range(32))


def hash_secret(secret: str) -> str:
    """The only form in which a key is kept: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_public_id(prefix: str) -> str:
    """An opaque, unguessable identifier such as ``ws_…`` or ``key_…``."""
    return prefix + "".join(secrets.choice(_BASE62) for _ in range(16))
