"""Idempotency stage (contract §6): parse the key, fingerprint the request, replay or refuse.

A key's response is committed in the store with the request's events; this stage finds it
(replay, or 422 for another body) and keeps this process's in-flight keys (409).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from flokit.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidIdempotencyKey
from flokit.model import IdempotencyClaim, StoredResponse

_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]{1,255}")
_SF_ESCAPE = re.compile(r"\\([\"\\])")


def parse_key(headers: Mapping[str, str]) -> str | None:
    """The ``Idempotency-Key`` (a quoted structured-field string is unquoted), or None."""
    raw = headers.get("idempotency-key")
    if raw is None:
        return None
    value = raw.strip(" \t")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = _SF_ESCAPE.sub(r"\1", value[1:-1])
    if not _VISIBLE_ASCII.fullmatch(value):
        raise InvalidIdempotencyKey(
            "Idempotency-Key must be 1 to 255 visible ASCII characters", field="Idempotency-Key"
        )
    return value


def fingerprint(path: str, body: bytes) -> bytes:
    """What makes two requests the same: the path and the decompressed body."""
    return hashlib.sha256(path.encode() + b"\n" + body).digest()


def check_replay(stored: StoredResponse, claim: IdempotencyClaim) -> StoredResponse:
    """The kept response, if the request is the one it answered; else 422."""
    if stored.fingerprint != claim.fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body; use a new key"
        )
    return stored


class InFlight:
    """Keys this process is working on now: a repeat arriving meanwhile gets 409."""

    def __init__(self) -> None:
        self._running: dict[tuple[int, str], bytes] = {}

    @contextmanager
    def hold(self, workspace_id: int, claim: IdempotencyClaim | None) -> Iterator[None]:
        if claim is None:
            yield
            return
        slot = (workspace_id, claim.key)
        running = self._running.get(slot)
        if running is not None and running != claim.fingerprint:
            raise IdempotencyKeyReused(
                "This Idempotency-Key is in use with a different request body; use a new key"
            )
        if running is not None:
            raise IdempotencyKeyInUse(
                "A request with this Idempotency-Key is still being processed; retry shortly",
                headers={"Retry-After": "1"},
            )
        self._running[slot] = claim.fingerprint
        try:
            yield
        finally:
            del self._running[slot]
