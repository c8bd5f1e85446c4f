"""The bodies the API sends and takes, as typed structs: handlers encode them, and the OpenAPI
document is generated from them (``openapi.py``), so the two cannot drift apart.

Response structs have no defaults: every field is always sent (``UNSET`` ones excepted).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from flokit.imports.validation import FIRST_ERRORS
from flokit.model import ImportPhase, ImportStatus, Rejection
from flokit.pipeline.ids import ID_PATTERN
from flokit.pipeline.validate import MAX_EVENT_NAME_CHARS, MAX_ID_CHARS, MAX_INSERT_ID_CHARS

DateTime = Annotated[str, Meta(extra_json_schema={"format": "date-time"})]
EventId = Annotated[str, Meta(pattern=f"^{ID_PATTERN}$")]
Cursor = Annotated[
    str | None, Meta(description="Pass it as `cursor` for the next page; null on the last")
]
AsOf = Annotated[int, Meta(ge=0, description="The log position the read models have reached")]
Properties = Annotated[msgspec.Raw, Meta(extra_json_schema={"type": "object"})]
Identifier = Annotated[str, Meta(min_length=1, max_length=MAX_ID_CHARS)]


class Ok(msgspec.Struct):
    """``GET /healthz``."""

    status: Literal["ok"]


class Ready(msgspec.Struct):
    """``GET /readyz`` when the store and the limiter answer."""

    status: Literal["ready"]
    backend: str


class EventInput(msgspec.Struct, forbid_unknown_fields=True):
    """One event as a client sends it (contract §4): at least one of ``user_id`` and
    ``anonymous_id``; taxonomy events other than install_attributed need ``user_id``."""

    event: Annotated[str, Meta(min_length=1, max_length=MAX_EVENT_NAME_CHARS)]
    timestamp: Annotated[DateTime, Meta(description="ISO 8601 with Z or an offset")]
    user_id: Identifier | None = None
    anonymous_id: Identifier | None = None
    insert_id: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=MAX_INSERT_ID_CHARS,
                description="The client's id of the event: duplicates are stored once",
            ),
        ]
        | None
    ) = None
    properties: dict[str, Any] | None = None


def batch_request(max_events: int) -> type[msgspec.Struct]:
    """``POST /v1/batch/events``'s body, for a server that takes ``max_events`` per batch."""
    events = Annotated[list[EventInput], Meta(min_length=1, max_length=max_events)]
    return msgspec.defstruct("BatchRequest", [("events", events)])


class BatchResponse(msgspec.Struct):
    """Every event's outcome (contract §3); ``event_ids`` lists the accepted ones in order."""

    status: Literal["ok"]
    accepted: int
    rejected: int
    duplicates: int
    event_ids: list[EventId]
    errors: list[Rejection]


class EventResponse(msgspec.Struct):
    """``POST /v1/events``: the id it is stored under (a duplicate's: its original's)."""

    status: Literal["ok"]
    event_id: EventId


class Event(msgspec.Struct):
    """An event as stored: timestamps in UTC, properties exactly as sent."""

    event_id: EventId
    event: str
    user_id: str | None
    anonymous_id: str | None
    timestamp: DateTime
    received_at: DateTime
    properties: Properties
    insert_id: str | None


class EventPage(msgspec.Struct):
    events: list[Event]
    next_cursor: Cursor


class ImportRowError(msgspec.Struct):
    row: Annotated[int, Meta(ge=1)]
    event: str | None
    reason: str


class Import(msgspec.Struct):
    """A CSV import (contract §10) and its progress."""

    import_id: Annotated[str, Meta(pattern="^imp_")]
    status: ImportStatus
    phase: ImportPhase
    dry_run: bool
    file_name: str | None
    file_bytes: int
    duplicate_of: str | None
    rows_total: int | None
    rows_processed: int
    accepted: int
    rejected: int
    duplicates: int
    created_at: DateTime
    started_at: DateTime | None
    finished_at: DateTime | None
    errors: Annotated[list[ImportRowError], Meta(max_length=FIRST_ERRORS)]  # the first ones
    errors_url: str
    failure: str | None
    message: str | UnsetType = UNSET  # set when the file was imported already


class ImportPage(msgspec.Struct):
    imports: list[Import]
    next_cursor: Cursor


class ImportUpload(msgspec.Struct):
    """The multipart form of ``POST /v1/imports``."""

    file: Annotated[str, Meta(extra_json_schema={"format": "binary"})]
