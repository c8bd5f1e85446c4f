"""Storage behind a small protocol: the pipeline sees ``Store``, never a database driver."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

from flokit.model import (
    ApiKey,
    Appended,
    EventQuery,
    IdempotencyClaim,
    ImportRecord,
    IssuedKey,
    KeyKind,
    Rendered,
    StoredEvent,
    StoredResponse,
    ValidEvent,
    Workspace,
)
from flokit.pipeline.limits import Limiter
from flokit.settings import Settings

#: Makes the 200 response of an append from its outcome (per event, the original's id if a
#: duplicate); it runs inside the store's transaction so the response is kept with the events.
Render = Callable[[list[str | None]], Rendered]


class Store(Protocol):
    """What the service needs from a backend; SQLite now, PostgreSQL next."""

    def close(self) -> None: ...
    def is_ready(self) -> bool: ...

    async def append(
        self,
        workspace_id: int,
        events: Sequence[ValidEvent],
        ids: Sequence[str],
        received_us: int,
        insert_id_retention_us: int,
        render: Render,
        claim: IdempotencyClaim | None = None,
    ) -> Appended: ...

    async def prune_expired(self, now_us: int) -> int: ...
    def find_response(self, workspace_id: int, key: str, now_us: int) -> StoredResponse | None: ...
    def find_duplicate_keys(self, workspace_id: int, keys: list[str]) -> dict[str, str]: ...
    def query_events(self, query: EventQuery) -> list[StoredEvent]: ...
    def get_event(self, workspace_id: int, event_id: str) -> StoredEvent | None: ...
    def find_key(self, key_hash: str) -> ApiKey | None: ...
    def create_workspace(self, name: str) -> tuple[Workspace, IssuedKey]: ...
    def find_workspace(self, public_id: str) -> Workspace | None: ...
    def count_workspaces(self) -> int: ...
    def create_import(self, record: ImportRecord) -> None: ...
    def get_import(self, workspace_id: int, import_id: str) -> ImportRecord | None: ...
    def list_imports(
        self, workspace_id: int, limit: int, before: tuple[int, str] | None = None
    ) -> list[ImportRecord]:
        """Newest first; ``before`` is the (created_us, id) of the last import already shown."""
        ...

    def find_same_file(self, workspace_id: int, sha256: str) -> ImportRecord | None: ...
    def has_claimable_import(self, stale_before_us: int) -> bool: ...
    def claim_import(self, now_us: int, stale_before_us: int) -> ImportRecord | None: ...
    def update_import(self, import_id: str, **changes: Any) -> None: ...

    def submit_import_batch(
        self,
        record: ImportRecord,
        events: Sequence[ValidEvent],
        ids: Sequence[str],
        received_us: int,
        insert_id_retention_us: int,
        resume: tuple[tuple[int, int], tuple[int, int]],
    ) -> Future[tuple[int, int]]:
        """Queue a slice with its resume point; it may be committed without an fsync of its
        own (a power cut undoes slice and resume point together). ``update_import`` is
        durable and makes every slice before it so."""
        ...

    def set_workspace_limit(
        self, workspace: Workspace, requests_per_minute: int | None
    ) -> None: ...
    def create_key(self, workspace: Workspace, kind: KeyKind) -> IssuedKey: ...
    def list_keys(self, workspace: Workspace) -> list[ApiKey]: ...
    def revoke_key(self, key_id: str) -> ApiKey | None: ...
    def rotate_key(self, key_id: str) -> IssuedKey | None: ...


def open_store(settings: Settings) -> Store:
    """The backend the settings name (only the embedded SQLite one exists yet)."""
    from flokit.store.sqlite import SqliteStore

    return SqliteStore(
        settings.db_path,
        busy_timeout_ms=settings.busy_timeout_ms,
        commit_max_requests=settings.commit_max_requests,
        commit_max_rows=settings.commit_max_rows,
    )


def open_limiter(settings: Settings) -> Limiter:
    """The rate limiter shared by every process of a deployment: a file beside the database."""
    from flokit.pipeline.limits import Unlimited
    from flokit.store.sqlite_limiter import SqliteLimiter

    if not settings.rate_limits:
        return Unlimited()
    return SqliteLimiter(limiter_path(settings.db_path))


def limiter_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".limits")
