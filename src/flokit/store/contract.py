"""The storage contract: one typed protocol per concern; every backend implements them all.

Two kinds of caller, two kinds of method. Request handlers run on the event loop and only
``await`` (a backend runs its blocking work in threads or on an async driver, so nothing here
can stall the loop). The command line and the import thread have no event loop and call the
plain methods, which may block. ``tests/contract/`` runs one suite against every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from flokit.domain.spend import FxRate, SpendRow
from flokit.integrations.outcome import ProviderType
from flokit.integrations.records import (
    DeliveryError,
    DeliveryRecord,
    Integration,
    IntegrationStats,
)
from flokit.model import (
    ApiKey,
    Appended,
    EventQuery,
    IdempotencyClaim,
    ImportPhase,
    ImportRecord,
    ImportStatus,
    IssuedKey,
    KeyKind,
    Rendered,
    StoredEvent,
    StoredResponse,
    ValidEvent,
    Workspace,
)
from flokit.pipeline.limits import Decision
from flokit.store.readmodel_queries import ReadQueries
from flokit.store.readmodel_sql import LogEvent, ReadModels

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
T_co = TypeVar("T_co", covariant=True)

#: Applies a batch of the log to the read models, inside the store's transaction.
Apply = Callable[[ReadModels, list[LogEvent]], None]

#: Makes the 200 response of an append from its outcome (per event, the original's id if a
#: duplicate); it runs inside the store's transaction so the response is kept with the events.
Render = Callable[[list[str | None]], Rendered]

#: An import slice's resume points: (timestamp, place) before it and after it.
Resume = tuple[tuple[int, int], tuple[int, int]]


class BackendUnreachable(RuntimeError):
    """A backend cannot be reached when the service starts; the message is one line that says
    which and where (the CLI prints it and exits non-zero, without a traceback)."""


class SchemaMismatch(RuntimeError):
    """The database's schema is not the one this FloKit works with; the message says why."""


class SchemaTooNew(SchemaMismatch):
    """The database was migrated by a newer FloKit than this one; refuse to touch it."""


class SchemaOutOfDate(SchemaMismatch):
    """The database is not migrated to this FloKit's schema, and migrating was not asked for."""


class ImportGap(RuntimeError):
    """A slice came to the store out of turn (raised inside its transaction: nothing kept).
    For the job that queued it, this means another process has taken the job over."""


class Pending(Protocol[T_co]):
    """A write handed to the store that the caller waits for later (an import slice)."""

    def result(self, timeout: float | None = None) -> T_co: ...


@dataclass(frozen=True, slots=True)
class ImportUpdate:
    """What an import job changes in its record; ``None`` leaves a field as it is."""

    status: ImportStatus | None = None
    phase: ImportPhase | None = None
    rows_total: int | None = None
    rows_processed: int | None = None
    accepted: int | None = None
    rejected: int | None = None
    duplicates: int | None = None
    errors: list[dict[str, object]] | None = None
    failure: str | None = None
    finished_us: int | None = None
    heartbeat_us: int | None = None

    def changes(self) -> dict[str, object]:
        """The fields to set, by column name."""
        return {name: value for name, value in asdict(self).items() if value is not None}


class EventStore(Protocol):
    """The append-only event log, its duplicate keys and its read-back."""

    async def append(
        self,
        workspace_id: int,
        events: Sequence[ValidEvent],
        ids: Sequence[str],
        received_us: int,
        insert_id_retention_us: int,
        render: Render,
        claim: IdempotencyClaim | None = None,
        delivery: DeliveryRecord | None = None,
    ) -> Appended:
        """Store the new events durably with the response ``render`` makes of them (kept for
        ``claim``'s replays, in the same transaction); if ``claim``'s key was answered
        meanwhile, store nothing and hand that response back. Duplicates are found by the
        store's own constraints, so concurrent appends anywhere never store one twice.
        ``delivery``: the integration delivery these events came from, counted (and its
        mapper's memory kept) in the same transaction."""
        ...

    async def prune_expired(self, now_us: int) -> int:
        """Forget a slice of expired insert_id keys and idempotency responses; how many."""
        ...

    async def query_events(self, query: EventQuery) -> list[StoredEvent]: ...
    async def get_event(self, workspace_id: int, event_id: str) -> StoredEvent | None: ...


class IdempotencyStore(Protocol):
    """Idempotency-Key responses kept for replays (written by ``EventStore.append``)."""

    async def find_response(
        self, workspace_id: int, key: str, now_us: int
    ) -> StoredResponse | None: ...


class IntegrationStore(Protocol):
    """Provider integrations (integrations.md): their records, counters, errors and the
    per-integration memory of their mappers. Deliveries are counted by ``EventStore.append``."""

    async def create_integration(self, integration: Integration) -> None: ...
    async def find_integration(self, kind: ProviderType, secret_hash: str) -> Integration | None:
        """The integration of this type whose generated secret has this hash."""
        ...

    async def get_integration(self, integration_id: str) -> Integration | None: ...
    async def list_integrations(self, workspace_id: int) -> list[Integration]: ...
    async def delete_integration(self, integration_id: str) -> bool:
        """Forget it with its counters and memory; False if there was none."""
        ...

    async def set_signing_secret(self, integration_id: str, signing_secret: str) -> None:
        """Replace the provider-given signing secret(s) (Stripe's, comma separated)."""
        ...

    async def integration_stats(self, integration_id: str, now_us: int) -> IntegrationStats: ...
    async def recall(self, integration_id: str, key: str) -> str | None:
        """What the integration's mapper remembered under ``key`` (``Memory.get``)."""
        ...

    async def record_delivery_error(self, integration_id: str, error: DeliveryError) -> None:
        """A delivery refused after authentication (400, 503): kept, and the last status."""
        ...


class KeyStore(Protocol):
    """Workspaces and their API keys. ``find_key`` serves requests; the rest, the CLI."""

    async def find_key(self, key_hash: str) -> ApiKey | None:
        """The live key with this hash, read fresh: a revocation anywhere counts at once."""
        ...

    def create_workspace(self, name: str) -> tuple[Workspace, IssuedKey]: ...
    def find_workspace(self, public_id: str) -> Workspace | None: ...
    def count_workspaces(self) -> int: ...
    def set_workspace_limit(
        self, workspace: Workspace, requests_per_minute: int | None
    ) -> None: ...
    def create_key(self, workspace: Workspace, kind: KeyKind) -> IssuedKey: ...
    def list_keys(self, workspace: Workspace) -> list[ApiKey]: ...
    def revoke_key(self, key_id: str) -> ApiKey | None: ...
    def rotate_key(self, key_id: str) -> IssuedKey | None: ...


class ImportStore(Protocol):
    """CSV import jobs. The async methods serve requests; the plain ones, the import thread."""

    async def create_import(self, record: ImportRecord) -> None: ...
    async def get_import(self, workspace_id: int, import_id: str) -> ImportRecord | None: ...
    async def list_imports(
        self, workspace_id: int, limit: int, before: tuple[int, str] | None = None
    ) -> list[ImportRecord]:
        """Newest first; ``before`` is the (created_us, id) of the last import already shown."""
        ...

    async def find_same_file(self, workspace_id: int, sha256: str) -> ImportRecord | None: ...

    async def keep_import_file(self, import_id: str, path: Path) -> None:
        """Keep the checked upload at ``path`` where any process that may claim the job can get
        it, before the job is queued. Nothing to do where every process sees ``path`` (one
        machine); a backend shared by several machines copies it in, streaming."""
        ...

    def restore_import_file(self, import_id: str, path: Path) -> bool:
        """Make sure the upload is at ``path`` (fetching it if this process's machine lacks
        it); False if it is nowhere to be had. The file appears whole or not at all."""
        ...

    def forget_import_file(self, import_id: str) -> None:
        """The job ended (completed or failed): what ``keep_import_file`` kept may go."""
        ...

    def has_claimable_import(self, stale_before_us: int) -> bool: ...
    def claim_import(self, now_us: int, stale_before_us: int) -> ImportRecord | None:
        """Take the oldest queued job, or a running one silent since ``stale_before_us``;
        never the same one as another process at the same moment."""
        ...

    def load_import(self, import_id: str) -> ImportRecord | None: ...
    def update_import(self, import_id: str, update: ImportUpdate) -> None:
        """Durable, and makes every slice submitted before it durable too."""
        ...

    def find_duplicate_keys(self, workspace_id: int, keys: list[str]) -> dict[str, str]:
        """Which duplicate keys the workspace holds, each with its event's id (dry runs)."""
        ...

    def submit_import_slice(
        self,
        record: ImportRecord,
        events: Sequence[ValidEvent],
        ids: Sequence[str],
        received_us: int,
        insert_id_retention_us: int,
        resume: Resume,
    ) -> Pending[tuple[int, int]]:
        """Queue a slice with its resume point and return at once; the result is (new events,
        duplicates). A slice whose predecessor did not commit is refused, so no gap forms. It
        may commit without an fsync of its own (a power cut undoes slice and resume point
        together); ``update_import`` makes it durable."""
        ...


@dataclass(frozen=True, slots=True)
class ProjectionProgress:
    """How far the read models have followed the log."""

    as_of: int  # the newest log position (seq) projected
    behind: int  # events committed to the log and not projected yet
    lag_s: float  # age of the oldest of them (0 when caught up)


class ReadModelStore(Protocol):
    """Projections of the log (identity, people, the event index): the projector writes them
    beside the ingest path, the read API reads them."""

    def project_next(self, limit: int, apply: Apply) -> int:
        """In one transaction: take the checkpoint (one projector at a time, on any node), read
        up to ``limit`` events committed after it, ``apply`` them and move the checkpoint past
        them. How many events; 0 when the log has nothing new."""
        ...

    def reset_read_models(self) -> None:
        """Forget every read model and the checkpoint: the projector starts from the log's
        beginning (``flokit projections rebuild``)."""
        ...

    def projection_progress(self, now_us: int) -> ProjectionProgress: ...

    async def read_models(self, work: Callable[[ReadQueries, int], T]) -> T:
        """``work`` on the read models in one consistent read, given ``as_of``."""
        ...

    async def read_models_pair(
        self, first: Callable[[ReadQueries], A], second: Callable[[ReadQueries], B]
    ) -> tuple[int, A, B]:
        """Two works on the read models, both at one ``as_of``: (``as_of``, their answers). A
        backend may run them at once, each on a connection of its own (a report's scan of
        people and its scan of revenue are independent)."""
        ...


class SpendStore(Protocol):
    """Spend, exchange rates and the reporting currency (analytics.md §3, §4): the user's own
    mutable tables, read by the reports in the same snapshot as the read models."""

    async def put_spend(self, workspace_id: int, rows: Sequence[SpendRow], now_us: int) -> None:
        """Upsert by (day, channel, campaign, ad set, creative, country): a restated day
        replaces the old row."""
        ...

    async def spend_between(self, workspace_id: int, start: int, end: int) -> list[SpendRow]: ...
    async def put_fx_rates(self, workspace_id: int, rates: Sequence[FxRate]) -> None: ...
    async def reporting_currency(self, workspace_id: int) -> str: ...
    def set_reporting_currency(self, workspace: Workspace, currency: str) -> None: ...


class Store(
    EventStore,
    IdempotencyStore,
    KeyStore,
    ImportStore,
    ReadModelStore,
    SpendStore,
    IntegrationStore,
    Protocol,
):
    """A whole backend: every concern, and its lifecycle."""

    backend: str  # its name, as /readyz and the logs say it ("sqlite", "postgresql")

    async def unready_reason(self) -> str | None:
        """Why the store cannot serve now (None: it answers and takes writes)."""
        ...

    def close(self) -> None: ...


class InFlightMarkers(Protocol):
    """Idempotency keys being worked on now, so a repeat meanwhile gets 409 (contract §6)."""

    async def mark(
        self, workspace_id: int, key: str, fingerprint: bytes, token: str
    ) -> bytes | None:
        """Mark the key as this request's; None if marked, else the holder's fingerprint."""
        ...

    async def unmark(self, workspace_id: int, key: str, token: str) -> None:
        """Remove this request's mark (only its own: ``token``)."""
        ...

    async def aclose(self) -> None:
        """Let go of connections, on the event loop that used them."""
        ...


class Limiter(Protocol):
    """Where rate-limit buckets live: every process and node of a deployment must agree, so
    each decision is one atomic step in the shared backend (``pipeline.limits.take``'s rule)."""

    async def acquire(self, workspace_id: int, limit: int, now_s: float) -> Decision:
        """Spend a token if there is one."""
        ...

    async def peek(self, workspace_id: int, limit: int, now_s: float) -> Decision:
        """The bucket's state for the headers, spending nothing."""
        ...

    async def unready_reason(self) -> str | None: ...
    async def aclose(self) -> None:
        """Let go of connections, on the event loop that used them."""
        ...
