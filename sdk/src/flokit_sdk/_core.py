"""What the sync and async clients share: events, chunks, retry decisions (no I/O here)."""

from __future__ import annotations

import gzip
import json
import os
import random
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from flokit_sdk.errors import APIError, AuthenticationError, PermissionDeniedError
from flokit_sdk.results import BatchResult, EventError

MIB = 1024 * 1024
#: Statuses worth retrying: the request may succeed later as it is.
RETRYABLE = frozenset({409, 429, 500, 502, 503, 504})
BATCH_PATH = "/v1/batch/events"


class _RandomIds:
    """UUID4 strings cut from a buffer of ``os.urandom`` bytes: ``uuid.uuid4()`` costs a system
    call and an object per id, which made it the dearest part of ``track()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a child must never reuse the buffer

    def _reset(self) -> None:
        self._hex, self._at = "", 0

    def __call__(self) -> str:
        with self._lock:
            if self._at >= len(self._hex):
                self._hex, self._at = os.urandom(8192).hex(), 0
            h = self._hex[self._at : self._at + 32]
            self._at += 32
        variant = "89ab"[int(h[16], 16) & 3]
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


new_uuid = _RandomIds()


def make_event(
    event: str,
    *,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    timestamp: datetime | str | None = None,
    properties: Mapping[str, Any] | None = None,
    insert_id: str | None = None,
) -> dict[str, Any]:
    """One event as the API takes it; it gets its ``insert_id`` (a UUID) now, once, so every
    retry of it is recognised as the same event."""
    moment = timestamp or datetime.now(UTC)
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    doc: dict[str, Any] = {
        "event": event,
        "timestamp": moment,
        "insert_id": insert_id or new_uuid(),
    }
    if user_id is not None:
        doc["user_id"] = user_id
    if anonymous_id is not None:
        doc["anonymous_id"] = anonymous_id
    if properties:
        doc["properties"] = dict(properties)
    return doc


@dataclass(frozen=True, slots=True)
class Chunk:
    """One request's worth of events; its Idempotency-Key is fixed before the first attempt."""

    offset: int
    events: list[dict[str, Any]]
    body: bytes
    gzipped: bool
    idempotency_key: str = field(default_factory=lambda: str(uuid.uuid4()))

    def headers(self, api_key: str) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Idempotency-Key": self.idempotency_key,
        }
        if self.gzipped:
            headers["Content-Encoding"] = "gzip"
        return headers


def chunks(
    events: list[dict[str, Any]], max_events: int, max_bytes: int, compress: bool
) -> Iterator[Chunk]:
    """Split events into requests of at most ``max_events`` events and ``max_bytes`` of JSON
    (the server caps the body before and after gunzip). A group is encoded in one go and
    halved only when it is too large, which is rare."""
    for start in range(0, len(events), max_events):
        yield from _fit(start, events[start : start + max_events], max_bytes, compress)


def _fit(
    offset: int, group: list[dict[str, Any]], max_bytes: int, compress: bool
) -> Iterator[Chunk]:
    body = json.dumps({"events": group}, separators=(",", ":"), ensure_ascii=False).encode()
    if len(body) <= max_bytes or len(group) == 1:
        # Level 1: a quarter of level 6's time for a few percent more bytes on the wire.
        yield Chunk(offset, group, gzip.compress(body, 1) if compress else body, compress)
        return
    half = len(group) // 2
    yield from _fit(offset, group[:half], max_bytes, compress)
    yield from _fit(offset + half, group[half:], max_bytes, compress)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring ``Retry-After``, within a budget."""

    max_attempts: int = 8
    max_elapsed_s: float = 120.0
    base_s: float = 0.5
    cap_s: float = 30.0
    max_retry_after_s: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: Callable[[], float]) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.max_retry_after_s)
        return float(rng() * min(self.cap_s, self.base_s * 2 ** (attempt - 1)))

    def allows(self, attempt: int, elapsed_s: float, wait_s: float) -> bool:
        """Whether one more attempt fits the budget."""
        return attempt < self.max_attempts and elapsed_s + wait_s <= self.max_elapsed_s


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds, from delta-seconds or an HTTP date; None if absent or bad."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def read_response(status: int, body: bytes) -> dict[str, Any] | None:
    """The batch body of a 200; None for a status worth retrying; raises for the others."""
    if status == 200:
        parsed: dict[str, Any] = json.loads(body)
        return parsed
    if status in RETRYABLE:
        return None
    try:
        detail = json.loads(body)
    except ValueError:
        detail = {}
    error, message = (
        detail.get("error", "error"),
        detail.get("message", body[:200].decode(errors="replace")),
    )
    kind = {401: AuthenticationError, 403: PermissionDeniedError}.get(status, APIError)
    raise kind(status, error, message)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What ``on_error`` receives from the background sender: rejected events (``result``) or a
    chunk that could not be delivered (``error``), always with the caller's own events."""

    events: list[dict[str, Any]]
    result: BatchResult | None
    error: BaseException | None

    @property
    def rejected(self) -> list[EventError]:
        return self.result.errors if self.result else []


def jitter() -> float:
    return random.random()
