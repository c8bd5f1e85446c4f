"""Authenticate stage: ``Authorization: Bearer <key>`` to a live key of one workspace.

Keys are looked up fresh on every request (one indexed read), so a revocation or rotation made
by any process takes effect on the very next request everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

from flokit.errors import Forbidden, Unauthorized
from flokit.keys import hash_secret
from flokit.model import ApiKey, KeyKind
from flokit.store.contract import KeyStore


async def authenticate(headers: Mapping[str, str], store: KeyStore) -> ApiKey:
    """The caller's key, or the documented 401."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        raise Unauthorized()
    key = await store.find_key(hash_secret(token))
    if key is None:
        raise Unauthorized()
    return key


def require_write(key: ApiKey) -> None:
    """Sending events needs a read-write key: otherwise the documented 403."""
    if key.kind is not KeyKind.READ_WRITE:
        raise Forbidden()
