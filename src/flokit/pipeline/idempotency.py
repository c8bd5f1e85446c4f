"""Idempotency stage (contract §6): parse the key, fingerprint the request, replay or refuse.

A key's response is committed in the store with the request's events; this stage finds it
(replay, or 422 for another body) and marks the keys in flight (409) in the deployment's
``InFlightMarkers``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from flokit.errors import (
    FloKitError,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
)
from flokit.model import IdempotencyClaim, StoredResponse

if TYPE_CHECKING:
    from flokit.store.contract import InFlightMarkers

log = logging.getLogger("flokit.idempotency")

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


@asynccontextmanager
async def hold(
    markers: InFlightMarkers, workspace_id: int, claim: IdempotencyClaim | None
) -> AsyncIterator[None]:
    """Mark ``claim``'s key as in flight for the request's duration: a repeat meanwhile gets
    409 (same body) or 422 (another body). The markers are advisory; what keeps a key's
    events from being stored twice is its response row, written with them."""
    if claim is None:
        yield
        return
    token = secrets.token_hex(8)
    holder = await markers.mark(workspace_id, claim.key, claim.fingerprint, token)
    if holder is not None and holder != claim.fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key is in use with a different request body; use a new key"
        )
    if holder is not None:
        raise IdempotencyKeyInUse(
            "A request with this Idempotency-Key is still being processed; retry shortly",
            headers={"Retry-After": "1"},
        )
    try:
        yield
    finally:
        await _unmark(markers, workspace_id, claim.key, token)


async def _unmark(markers: InFlightMarkers, workspace_id: int, key: str, token: str) -> None:
    """Take the mark away; if the markers' backend is unreachable now, the mark expires by
    itself, and the request (its events may be stored already) keeps its own answer."""
    try:
        await markers.unmark(workspace_id, key, token)
    except FloKitError as exc:
        log.warning("in-flight mark of %r left to expire: %s", key, exc)


class LocalInFlight:
    """In-flight markers in this process's memory: enough for one SQLite server process.
    (Several workers on one SQLite file each keep their own; the response row still keeps a
    key's events from being stored twice.)"""

    def __init__(self) -> None:
        self._running: dict[tuple[int, str], tuple[bytes, str]] = {}

    async def mark(
        self, workspace_id: int, key: str, fingerprint: bytes, token: str
    ) -> bytes | None:
        held = self._running.setdefault((workspace_id, key), (fingerprint, token))
        return None if held[1] == token else held[0]

    async def unmark(self, workspace_id: int, key: str, token: str) -> None:
        slot = (workspace_id, key)
        if self._running.get(slot, (b"", ""))[1] == token:
            del self._running[slot]

    async def aclose(self) -> None:
        pass
