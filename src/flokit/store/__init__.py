"""Storage behind a small protocol: the pipeline sees ``Store``, never a database driver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from flokit.model import ApiKey, EventQuery, IssuedKey, KeyKind, StoredEvent, ValidEvent, Workspace
from flokit.settings import Settings


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
    ) -> list[str | None]: ...

    async def prune_dedup_keys(self, now_us: int) -> int: ...
    def query_events(self, query: EventQuery) -> list[StoredEvent]: ...
    def get_event(self, workspace_id: int, event_id: str) -> StoredEvent | None: ...
    def find_key(self, key_hash: str) -> ApiKey | None: ...
    def create_workspace(self, name: str) -> tuple[Workspace, IssuedKey]: ...
    def find_workspace(self, public_id: str) -> Workspace | None: ...
    def count_workspaces(self) -> int: ...
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
