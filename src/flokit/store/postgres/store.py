"""The PostgreSQL store: every node of a deployment shares one database.

Blocking psycopg calls on a pool of connections, run in the store's own threads for the async
methods, so nothing waits on the event loop. A write is one transaction that commits before
its caller hears of it; what makes concurrent writers on many nodes safe is the database's own
constraints (duplicate keys, response rows, row locks), never a check before an insert.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import psycopg
from psycopg import errors

from flokit.domain.spend import FxRate, SpendRow
from flokit.errors import Unavailable
from flokit.integrations.records import DeliveryRecord
from flokit.model import (
    ApiKey,
    Appended,
    EventQuery,
    IdempotencyClaim,
    ImportRecord,
    IssuedKey,
    KeyKind,
    StoredEvent,
    StoredResponse,
    ValidEvent,
    Workspace,
)
from flokit.store import integration_rows, spend_sql
from flokit.store.contract import Apply, ImportUpdate, ProjectionProgress, Render, Resume
from flokit.store.diskfull import DiskFullWatch
from flokit.store.integration_store import IntegrationStoreMixin
from flokit.store.postgres import events as event_rows
from flokit.store.postgres import import_files, imports, readmodels, responses, workspaces
from flokit.store.postgres.connections import (
    Connection,
    connect,
    first_line,
    open_pool,
    unavailable,
)
from flokit.store.postgres.schema import apply_migrations, check_current
from flokit.store.readmodel_queries import ReadQueries, index_key
from flokit.store.readmodel_sql import POSTGRES

log = logging.getLogger("flokit.store")
T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
#: How often a transaction that lost a deadlock is tried again (it rolled back: nothing kept).
DEADLOCK_RETRIES = 2
#: How long a readiness probe waits for a connection.
READY_TIMEOUT_S = 2.0


class _ClaimLost(Exception):
    """A concurrent request with the same Idempotency-Key committed first: roll back, replay."""

    def __init__(self, response: StoredResponse) -> None:
        super().__init__("idempotency key answered meanwhile")
        self.response = response


class PostgresStore(IntegrationStoreMixin):
    """``contract.Store`` on PostgreSQL (psycopg 3, a connection pool, its own threads)."""

    backend: str = "postgresql"
    dialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 16,
        busy_timeout_ms: int = 10_000,
        migrate: bool = True,
    ) -> None:
        """Connect once (``BackendUnreachable`` at once if that fails, and nothing left
        running), migrate the schema or check it is current (``SchemaTooNew``; without
        ``migrate``, ``SchemaOutOfDate`` too), then open the pool."""
        with connect(url) as conn:
            if migrate:
                apply_migrations(conn)
            else:
                check_current(conn)
        self._pool = open_pool(url, pool_size, busy_timeout_ms)
        self._executor = ThreadPoolExecutor(pool_size, thread_name_prefix="flokit-pg")
        self._slices = ThreadPoolExecutor(1, thread_name_prefix="flokit-pg-import")
        self._closed = False
        self._close_lock = threading.Lock()
        self._disk = DiskFullWatch("postgresql")  # its disk is the server's: not ours to see

    # -- lifecycle and the transaction runner ----------------------------------------------

    def close(self) -> None:
        """Finish what is queued, then close every connection (idempotent)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._slices.shutdown(wait=True)
        self._executor.shutdown(wait=True)
        self._pool.close()

    async def unready_reason(self) -> str | None:
        if self._closed:
            return "postgresql: the store is closed"
        if full := self._disk.reason():
            return full
        try:
            recovery, read_only = await self._in_thread(self._probe)
        except psycopg.OperationalError as exc:
            return f"postgresql: {first_line(exc)}"
        if recovery:
            return "postgresql: the server is a standby in recovery (read-only)"
        if read_only == "on":
            return "postgresql: transactions are read-only (default_transaction_read_only)"
        return None

    def _probe(self) -> tuple[bool, str]:
        with self._pool.connection(timeout=READY_TIMEOUT_S) as conn:
            row = conn.execute(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
            ).fetchone()
        return (bool(row[0]), str(row[1])) if row else (True, "")

    async def run(self, work: Callable[[Connection], T]) -> T:
        """``work`` as one transaction on a pooled connection, in the store's threads; a lost
        or overloaded server is ``Unavailable`` (503)."""
        return await self._in_thread(self.transact, work)

    async def _write_rows(self, work: Callable[[Connection], T]) -> T:
        return await self.run(work)

    async def _read(self, work: Callable[[Connection], T]) -> T:
        """``work``, one statement, without a transaction of its own (no BEGIN, no COMMIT)."""
        return await self._in_thread(self.transact, work, False)

    async def _in_thread(self, call: Callable[..., T], *args: object) -> T:
        if self._closed:
            raise Unavailable("The event store is closed; nothing was stored")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(call, *args))

    def transact(self, work: Callable[[Connection], T], transaction: bool = True) -> T:
        """Run ``work`` on a pooled connection, in a transaction unless told otherwise; called
        in the caller's thread (the CLI, the import thread). A transaction that loses a
        deadlock rolled back and runs again."""
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                return self._attempt(work, transaction)
            except errors.DeadlockDetected as exc:
                if attempt == DEADLOCK_RETRIES:
                    raise unavailable(exc, committing=False) from exc
                log.info("PostgreSQL: deadlock, transaction retried (attempt %d)", attempt + 2)
        raise AssertionError("unreachable")

    def _attempt(self, work: Callable[[Connection], T], transaction: bool) -> T:
        committing = False
        try:
            with self._pool.connection() as conn:
                if not transaction:
                    return work(conn)
                with conn.transaction():
                    result = work(conn)
                    committing = True  # leaving the block commits
                return result
        except errors.DeadlockDetected:
            raise
        except psycopg.OperationalError as exc:
            if isinstance(exc, errors.DiskFull):
                self._disk.failed(exc)
            raise unavailable(exc, committing) from exc

    # -- events and responses ----------------------------------------------------------------

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
        """Store the new events with the response ``render`` makes of them, in one transaction
        that commits before this returns. If ``claim``'s key has a live response, or one is
        committed by a concurrent request meanwhile, nothing is stored: that response is
        handed back instead."""
        batch = event_rows.prepare(
            workspace_id, events, ids, received_us, received_us + insert_id_retention_us
        )

        def work(conn: Connection) -> Appended:
            if claim is not None:
                kept = responses.find_response(conn, workspace_id, claim.key, received_us)
                if kept is not None:
                    return Appended([], None, kept)
            originals = event_rows.insert_events(conn, batch) if events else []
            if delivery is not None:
                integration_rows.record_delivery(conn, POSTGRES, delivery, events, originals)
            rendered = render(originals)
            if claim is not None:
                first = responses.save_response(conn, workspace_id, claim, rendered, received_us)
                if first is not None:
                    raise _ClaimLost(first)  # rolls this transaction back
            return Appended(originals, rendered, None)

        try:
            return await self.run(work)
        except _ClaimLost as lost:
            return Appended([], None, lost.response)

    async def prune_expired(self, now_us: int) -> int:
        """Forget a slice of expired insert_id keys, responses and in-flight markers."""
        return await self.run(lambda conn: event_rows.prune_expired(conn, now_us))

    async def query_events(self, query: EventQuery) -> list[StoredEvent]:
        if index_key(query) is not None:
            unsettled = readmodels.UNSETTLED
            return await self.read_models(lambda q, _: q.filtered_events(query, unsettled))
        return await self._read(lambda conn: event_rows.query_events(conn, query))

    async def get_event(self, workspace_id: int, event_id: str) -> StoredEvent | None:
        return await self._read(lambda conn: event_rows.get_event(conn, workspace_id, event_id))

    async def find_response(
        self, workspace_id: int, key: str, now_us: int
    ) -> StoredResponse | None:
        return await self._read(
            lambda conn: responses.find_response(conn, workspace_id, key, now_us)
        )

    # -- read models -------------------------------------------------------------------------

    def project_next(self, limit: int, apply: Apply) -> int:
        return self.transact(lambda conn: readmodels.project_next(conn, limit, apply))

    def reset_read_models(self) -> None:
        self.transact(readmodels.reset)

    def projection_progress(self, now_us: int) -> ProjectionProgress:
        return self.transact(lambda conn: readmodels.progress(conn, now_us))

    async def read_models(self, work: Callable[[ReadQueries, int], T]) -> T:
        return await self.run(lambda conn: readmodels.read(conn, work))

    async def read_models_pair(
        self, first: Callable[[ReadQueries], A], second: Callable[[ReadQueries], B]
    ) -> tuple[int, A, B]:
        """One after the other in one snapshot: PostgreSQL aggregates by hashing, so a report's
        scans are short enough not to need a second connection importing the snapshot."""
        return await self.read_models(lambda q, as_of: (as_of, first(q), second(q)))

    # -- spend, exchange rates, reporting currency -------------------------------------------

    async def put_spend(self, workspace_id: int, rows: Sequence[SpendRow], now_us: int) -> None:
        await self.run(
            lambda conn: spend_sql.put_spend(
                readmodels.PgDb(conn), POSTGRES, workspace_id, rows, now_us
            )
        )

    async def spend_between(self, workspace_id: int, start: int, end: int) -> list[SpendRow]:
        return await self._read(
            lambda conn: spend_sql.spend_between(
                readmodels.PgDb(conn), POSTGRES, workspace_id, start, end
            )
        )

    async def put_fx_rates(self, workspace_id: int, rates: Sequence[FxRate]) -> None:
        await self.run(
            lambda conn: spend_sql.put_rates(readmodels.PgDb(conn), POSTGRES, workspace_id, rates)
        )

    async def reporting_currency(self, workspace_id: int) -> str:
        return await self._read(
            lambda conn: spend_sql.currency_of(readmodels.PgDb(conn), POSTGRES, workspace_id)
        )

    def set_reporting_currency(self, workspace: Workspace, currency: str) -> None:
        self.transact(
            lambda conn: spend_sql.set_currency(
                readmodels.PgDb(conn), POSTGRES, workspace.id, currency
            )
        )

    # -- workspaces and keys ---------------------------------------------------------------

    async def find_key(self, key_hash: str) -> ApiKey | None:
        """The live key with this hash, read fresh: a revocation on any node counts at once."""
        return await self._read(lambda conn: workspaces.find_key(conn, key_hash))

    def create_workspace(self, name: str) -> tuple[Workspace, IssuedKey]:
        return self.transact(lambda conn: workspaces.create_workspace(conn, name))

    def find_workspace(self, public_id: str) -> Workspace | None:
        return self.transact(lambda conn: workspaces.find_workspace(conn, public_id), False)

    def count_workspaces(self) -> int:
        return self.transact(workspaces.count_workspaces, False)

    def set_workspace_limit(self, workspace: Workspace, requests_per_minute: int | None) -> None:
        self.transact(lambda conn: workspaces.set_limit(conn, workspace.id, requests_per_minute))

    def create_key(self, workspace: Workspace, kind: KeyKind) -> IssuedKey:
        return self.transact(
            lambda conn: workspaces.insert_key(conn, workspace.id, workspace.public_id, kind)
        )

    def list_keys(self, workspace: Workspace) -> list[ApiKey]:
        return self.transact(lambda conn: workspaces.list_keys(conn, workspace.id), False)

    def revoke_key(self, key_id: str) -> ApiKey | None:
        return self.transact(lambda conn: workspaces.revoke_key(conn, key_id))

    def rotate_key(self, key_id: str) -> IssuedKey | None:
        return self.transact(lambda conn: workspaces.rotate_key(conn, key_id))

    # -- imports -----------------------------------------------------------------------------

    async def create_import(self, record: ImportRecord) -> None:
        await self.run(lambda conn: imports.insert(conn, record))

    async def get_import(self, workspace_id: int, import_id: str) -> ImportRecord | None:
        return await self._read(lambda conn: imports.get(conn, workspace_id, import_id))

    async def list_imports(
        self, workspace_id: int, limit: int, before: tuple[int, str] | None = None
    ) -> list[ImportRecord]:
        """Newest first; ``before`` is the (created_us, id) of the last import already shown."""
        return await self._read(lambda conn: imports.recent(conn, workspace_id, limit, before))

    async def find_same_file(self, workspace_id: int, sha256: str) -> ImportRecord | None:
        return await self._read(lambda conn: imports.same_file(conn, workspace_id, sha256))

    async def keep_import_file(self, import_id: str, path: Path) -> None:
        """Copy the upload in (one transaction, chunk by chunk), so any node can run the job."""
        await self.run(lambda conn: import_files.keep(conn, import_id, path))

    def restore_import_file(self, import_id: str, path: Path) -> bool:
        """The upload at ``path``: this node's own copy if it has one, else fetched."""
        if path.exists():
            return True
        return self.transact(lambda conn: import_files.fetch(conn, import_id, path), False)

    def forget_import_file(self, import_id: str) -> None:
        self.transact(lambda conn: import_files.forget(conn, import_id))

    def has_claimable_import(self, stale_before_us: int) -> bool:
        return self.transact(lambda conn: imports.claimable(conn, stale_before_us), False)

    def claim_import(self, now_us: int, stale_before_us: int) -> ImportRecord | None:
        """Take the oldest claimable job; one another node is taking now is skipped."""
        return self.transact(lambda conn: imports.claim(conn, now_us, stale_before_us))

    def load_import(self, import_id: str) -> ImportRecord | None:
        return self.transact(lambda conn: imports.load(conn, import_id), False)

    def update_import(self, import_id: str, update: ImportUpdate) -> None:
        """Durable, after every slice submitted before it: it is queued behind them, and its
        own commit waits for the log to reach the disk, theirs included."""
        changes = update.changes()
        self._slices.submit(
            self.transact, lambda conn: imports.update(conn, import_id, changes)
        ).result()

    def find_duplicate_keys(self, workspace_id: int, keys: list[str]) -> dict[str, str]:
        """Which duplicate keys the workspace holds, each with its event's id (dry runs)."""
        return self.transact(lambda conn: event_rows.find_keys(conn, workspace_id, keys), False)

    def submit_import_slice(
        self,
        record: ImportRecord,
        events: Sequence[ValidEvent],
        ids: Sequence[str],
        received_us: int,
        insert_id_retention_us: int,
        resume: Resume,
    ) -> Future[tuple[int, int]]:
        """Queue one slice (prepared here, in the caller's thread) and return at once; slices
        commit one after another in the order submitted (one thread), each with its resume
        point, so the job prepares its next slice while this one commits."""
        batch = event_rows.prepare(
            record.workspace_id, events, ids, received_us, received_us + insert_id_retention_us
        )
        return self._slices.submit(
            self.transact,
            lambda conn: imports.store_slice(conn, record, batch, received_us, resume),
        )


if TYPE_CHECKING:
    from flokit.store.contract import Store

    def _implements(store: PostgresStore) -> Store:
        return store  # mypy checks the store against the whole contract here
