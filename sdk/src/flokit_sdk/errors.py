"""What can go wrong, as exceptions a caller can act on."""

from __future__ import annotations

from typing import Any


class FloKitError(Exception):
    """Base of every SDK error."""


class APIError(FloKitError):
    """The server answered with an error that retrying cannot fix (400, 401, 403, 413, 422)."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status, self.error, self.message = status, error, message


class AuthenticationError(APIError):
    """401: the API key is missing, unknown, revoked or rotated."""


class PermissionDeniedError(APIError):
    """403: sending events needs a read-write key (fk_rw_...), not a read-only one."""


class RetriesExhaustedError(FloKitError):
    """A chunk could not be delivered within the retry budget; its events are attached so
    nothing is lost silently: send them again later (same insert_ids, so no duplicates)."""

    def __init__(
        self, message: str, events: list[dict[str, Any]], last: BaseException | str
    ) -> None:
        super().__init__(message)
        self.events, self.last = events, last
