"""The records that cross the pipeline and the store: plain data, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import msgspec


class KeyKind(StrEnum):
    READ_WRITE = "read_write"
    READ_ONLY = "read_only"


class RejectionCode(StrEnum):
    """Why one event (or import row) was rejected: the ``code`` of a batch error (contract §3)."""

    NOT_AN_OBJECT = "not_an_object"
    TOO_LARGE = "too_large"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_FIELD = "unknown_field"
    INVALID_ROW = "invalid_row"  # imports only: a CSV row that is not even an event


class EventOutcome(StrEnum):
    """What became of one received event (the ``outcome`` label of ``flokit_events``)."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class ImportStatus(StrEnum):
    """Where an import job is in its life (contract §10)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def ended(self) -> bool:
        return self in (ImportStatus.COMPLETED, ImportStatus.FAILED)


class ImportPhase(StrEnum):
    """An import job's phase: check every row, then store the valid ones in timestamp order."""

    VALIDATE = "validate"
    STORE = "store"
    DONE = "done"


class ValidEvent(msgspec.Struct, array_like=True, gc=False):
    """An event that passed validation, in the shape the store keeps. A msgspec struct: cheap
    to make, and imports stage it as a compact msgpack array and read slices of it back in one
    decode (only strings, bytes and ints inside, so the cycle collector can ignore it)."""

    event: str
    user_id: str | None
    anonymous_id: str | None
    timestamp_us: int
    properties: bytes | None  # compact JSON text of the properties object
    insert_id: str | None
    transaction_id: str | None  # set on revenue events only: their duplicate key


@dataclass(slots=True)
class Rejection:
    """Why one event of a request was not accepted (one entry of the batch ``errors``)."""

    index: int
    event: str | None
    reason: str
    code: RejectionCode
    field: str | None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as read back from the store."""

    seq: int
    event_id: str
    event: str
    user_id: str | None
    anonymous_id: str | None
    timestamp_us: int
    received_us: int
    properties: str | None  # the compact JSON text, exactly as stored
    insert_id: str | None


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A page of one workspace's events, newest received first, below ``before_seq``."""

    workspace_id: int
    limit: int = 100
    before_seq: int | None = None
    event: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    since_us: int | None = None
    until_us: int | None = None


@dataclass(frozen=True, slots=True)
class Workspace:
    id: int
    public_id: str
    name: str
    created_us: int


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key's metadata (its secret is never stored, only its SHA-256)."""

    key_id: str
    workspace_id: int
    workspace_public_id: str
    kind: KeyKind
    created_us: int
    revoked_us: int | None
    requests_per_minute: int | None = None  # the workspace's own ingest limit, if it has one


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key just created: the only moment its secret exists outside the client."""

    key: ApiKey
    secret: str


@dataclass(frozen=True, slots=True)
class Rendered:
    """A 200 response as it is sent, and as it is kept for Idempotency-Key replays."""

    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The response kept for an Idempotency-Key, with the fingerprint of its request."""

    fingerprint: bytes
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """A request's Idempotency-Key: its response is committed with its events (contract §6)."""

    key: str
    fingerprint: bytes
    expires_us: int


@dataclass(frozen=True, slots=True)
class Appended:
    """What a store append did: stored the events (``rendered``), or found the key's response
    already committed by an identical request (``replay``) and stored nothing."""

    originals: list[str | None]
    rendered: Rendered | None
    replay: StoredResponse | None


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """A CSV import job (contract §10) and its progress."""

    id: str
    workspace_id: int
    status: ImportStatus
    dry_run: bool
    file_sha256: str
    file_bytes: int
    file_name: str | None
    duplicate_of: str | None
    rows_total: int | None
    rows_processed: int
    accepted: int
    rejected: int
    duplicates: int
    errors: list[dict[str, object]]  # the first 100: {"row", "event", "reason"}
    failure: str | None
    phase: ImportPhase
    stored_ts: int  # the store phase's resume point: the (timestamp, place in the file)
    stored_row: int  # of the last event committed (imports/runs.py: ``place``)
    created_us: int
    started_us: int | None
    finished_us: int | None
    heartbeat_us: int | None
