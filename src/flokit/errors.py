"""The one error hierarchy: the only place a status code and an error body are chosen (contract §2).

Tree::

    FloKitError
    ├── BadRequest (400): InvalidJson, InvalidRequest, BatchTooLarge, EventValidationError,
    │                     InvalidIdempotencyKey
    ├── Unauthorized (401), Forbidden (403), NotFound (404)
    ├── IdempotencyKeyInUse (409), PayloadTooLarge (413), UnsupportedMediaType (415)
    ├── IdempotencyKeyReused (422), RateLimited (429)
    ├── InternalError (500), Unavailable (503) └── StorageFull (503: the disk is full)

Per-event rejections inside a batch are data (``Rejection``), not exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import msgspec


class ErrorBody(msgspec.Struct):
    """Every request-level error (contract §2); ``field`` names the offending field, if one."""

    error: str
    message: str
    field: str | msgspec.UnsetType = msgspec.UNSET


class FloKitError(Exception):
    """A request-level failure with its HTTP status, stable ``error`` code and a message."""

    status: int = 500
    error: str = "internal_error"
    default_message: str = "Internal server error"
    #: Whether the answer always says when to try again (the OpenAPI document shows it).
    sends_retry_after: ClassVar[bool] = False

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.field = field
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.message)

    def body(self) -> ErrorBody:
        """The JSON body: ``error`` and ``message``, plus ``field`` when one field is at fault."""
        field = msgspec.UNSET if self.field is None else self.field
        return ErrorBody(self.error, self.message, field)


class InvalidJson(FloKitError):
    status, error = 400, "invalid_json"


class InvalidRequest(FloKitError):
    status, error = 400, "invalid_request"


class BatchTooLarge(FloKitError):
    status, error = 400, "batch_too_large"


class EventValidationError(FloKitError):
    status, error = 400, "validation_error"


class InvalidIdempotencyKey(FloKitError):
    status, error = 400, "invalid_idempotency_key"


class Unauthorized(FloKitError):
    status, error = 401, "unauthorized"
    default_message = "Invalid or missing API key"


class Forbidden(FloKitError):
    status, error = 403, "forbidden"
    default_message = "This operation requires a read-write key"


class NotFound(FloKitError):
    status, error = 404, "not_found"
    default_message = "Not found"


class MethodNotAllowed(FloKitError):
    status, error = 405, "method_not_allowed"
    default_message = "Method not allowed for this path"


class IdempotencyKeyInUse(FloKitError):
    status, error = 409, "idempotency_key_in_use"
    sends_retry_after = True


class PayloadTooLarge(FloKitError):
    status, error = 413, "payload_too_large"


class UnsupportedMediaType(FloKitError):
    status, error = 415, "unsupported_media_type"


class IdempotencyKeyReused(FloKitError):
    status, error = 422, "idempotency_key_reused"


class RateLimited(FloKitError):
    status, error = 429, "rate_limited"
    sends_retry_after = True


class InternalError(FloKitError):
    status, error = 500, "internal_error"


class Unavailable(FloKitError):
    status, error = 503, "unavailable"
    default_message = "The event store cannot commit right now; nothing was stored. Retry shortly."
    sends_retry_after = True

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class StorageFull(Unavailable):
    """The store's disk is full (SQLite's file system, or PostgreSQL's): an outage that lasts
    until space is freed, so the answer says so and asks for a longer wait than a busy store."""

    default_message = (
        "The event store's disk is full; nothing was stored. Retry once space is freed."
    )

    def __init__(self, message: str | None = None, *, retry_after: int = 10) -> None:
        super().__init__(message, retry_after=retry_after)
