"""The embedded default store: one SQLite file, one group-commit writer, per-thread readers."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from flokit import keys as keygen
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
from flokit.store import (
    integration_rows,
    spend_sql,
    sqlite_events,
    sqlite_idempotency,
    sqlite_imports,
    sqlite_readmodels,
)
from flokit.store.contract import Apply, ImportUpdate, ProjectionProgress, Render, Resume
from flokit.store.diskfull import DiskFullWatch, sqlite_disk_full, storage_full
from flokit.store.integration_store import IntegrationStoreMixin
from flokit.store.readmodel_queries import ReadQueries, index_key
from flokit.store.readmodel_sql import SQLITE
from flokit.store.sqlite_readmodels import SqliteDb
from flokit.store.sqlite_schema import connect, migrate
from flokit.store.sqlite_writer import GroupCommitWriter

log = logging.getLogger("flokit.store")
T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
#: Concurrent tries of ``read_models_pair`` before it runs both works on one connection.
PAIR_TRIES = 3
#: A WAL this long (256 MiB of 4 KiB pages) means back-to-back commits keep the background
#: checkpoint from ever catching up; the writer then rewinds it between two transactions.
WAL_REWIND_FRAMES = 65_536

_KEY_COLUMNS = (
    "k.key_id, k.workspace_id, w.public_id, k.kind, k.created_us, k.revoked_us,"
    " w.requests_per_minute FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id"
)


def _now_us() -> int:
    return time.time_ns() // 1000


def _key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(row[0], row[1], row[2], KeyKind(row[3]), row[4], row[5], row[6])


class SqliteStore(IntegrationStoreMixin):
    """Events, workspaces and keys in one SQLite database (WAL, ``synchronous=FULL``).
    Reads run in threads (each with its own connection), writes in the group-commit writer's
    thread: the event loop only awaits."""

    backend = "sqlite"
    dialect = SQLITE

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = 10_000,
        commit_max_requests: int = 64,
        commit_max_rows: int = 20_000,
        checkpoint_interval_s: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._disk = DiskFullWatch("sqlite", self.path.parent)
        self._writer = GroupCommitWriter(
            self._open_writer_connection(),
            max_jobs=commit_max_requests,
            max_rows=commit_max_rows,
            lock_path=self.path.with_name(self.path.name + ".writelock"),
            disk=self._disk,
        )
        try:
            self._writer.submit(sqlite_events.compile_inserts).result()
        except BaseException:
            self._writer.close()
            raise
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, args=(checkpoint_interval_s,), daemon=True
        )
        self._checkpointer.start()

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Commit what is queued, checkpoint, and close every connection (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._checkpointer.join()
        self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    @property
    def commits(self) -> int:
        """Transactions committed so far by this process's writer."""
        return self._writer.commits

    def _open_writer_connection(self) -> sqlite3.Connection:
        """The writer's connection, schema migrated and read models created; a disk too full
        for that is ``StorageFull`` (the projector waits for space rather than dying)."""
        conn: sqlite3.Connection | None = None
        try:
            conn = connect(self.path, busy_timeout_ms=self._busy_timeout_ms, writer=True)
            migrate(conn)
            self._create_read_models()
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            if sqlite_disk_full(exc):
                raise storage_full("The event store cannot be opened", exc) from exc
            raise
        return conn

    def _create_read_models(self) -> None:
        conn = connect(self.path, busy_timeout_ms=self._busy_timeout_ms, writer=False)
        try:
            sqlite_readmodels.attach(conn, self.path)
            sqlite_readmodels.create(conn)
        finally:
            conn.close()

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection (SQLite connections are not shared across threads),
        with the read models attached."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, busy_timeout_ms=self._busy_timeout_ms, writer=False)
            sqlite_readmodels.attach(conn, self.path)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _checkpoint_loop(self, interval_s: float) -> None:
        """Copy the WAL into the database off the commit path, so commits never wait for it."""
        conn = connect(self.path, busy_timeout_ms=0, writer=False)
        try:
            while not self._stop.wait(interval_s):
                if self._checkpoint(conn, "PASSIVE") > WAL_REWIND_FRAMES:
                    self._writer.rewind_wal()  # commits never left it a quiet moment
            self._checkpoint(conn, "TRUNCATE")
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection, mode: str) -> int:
        """Run a checkpoint; the frames in the WAL (0 when it could not run)."""
        try:
            row = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as exc:  # busy now; the next round catches up
            log.debug("checkpoint skipped: %s", exc)
            return 0
        return int(row[1]) if row else 0

    async def unready_reason(self) -> str | None:
        return await asyncio.to_thread(self._unready_reason)

    def _unready_reason(self) -> str | None:
        """Why the database cannot serve now: it does not answer, or cannot take writes."""
        if full := self._disk.reason():
            return full
        try:
            self._reader().execute("SELECT 1 FROM workspaces LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            return f"sqlite: {exc}"
        if not self._writer.is_alive():
            return "sqlite: the writer thread stopped"
        if not os.access(self.path, os.W_OK):
            return f"sqlite: {self.path} is not writable"
        return None

    # -- writes ----------------------------------------------------------------------------

    async def write(self, run: Callable[[sqlite3.Connection], T], rows: int = 1) -> T:
        """Run ``run`` in the next group commit and wait until that commit is durable. A job
        still queued after the busy timeout is withdrawn (503: nothing stored); one already
        running is waited for, so a 503 never hides a commit."""
        pending = self._writer.submit(run, rows)
        waiting = asyncio.wrap_future(pending)
        done, _ = await asyncio.wait({waiting}, timeout=self._busy_timeout_ms / 1000)
        if not done and pending.cancel():
            raise Unavailable("The event store is busy; nothing was stored. Retry shortly.")
        result: T = await waiting
        return result

    def write_sync(self, run: Callable[[sqlite3.Connection], T], rows: int = 1) -> T:
        """``write`` for callers without an event loop (the CLI, benchmarks)."""
        result: T = self._writer.submit(run, rows).result()
        return result

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
        """Store accepted events durably, with the response ``render`` makes of them (kept for
        ``claim``'s replays in the same transaction). If ``claim``'s key already has a response,
        store nothing and hand that response back instead."""
        rows = sqlite_events.prepare(
            workspace_id, events, ids, received_us, received_us + insert_id_retention_us
        )

        def run(conn: sqlite3.Connection) -> Appended:
            if claim is not None:
                kept = sqlite_idempotency.find_response(conn, workspace_id, claim.key, received_us)
                if kept is not None:
                    return Appended([], None, kept)
            originals = sqlite_events.insert_events(conn, rows)
            if delivery is not None:
                integration_rows.record_delivery(conn, SQLITE, delivery, events, originals)
            rendered = render(originals)
            if claim is not None:
                sqlite_idempotency.save_response(conn, workspace_id, claim, rendered)
            return Appended(originals, rendered, None)

        return await self.write(run, rows=len(events))

    async def prune_expired(self, now_us: int) -> int:
        """Forget a slice of expired insert_id keys and idempotency responses."""
        return await self.write(lambda conn: sqlite_events.prune_expired(conn, now_us))

    # -- reads (each in a thread, on that thread's connection) ---------------------------------

    async def _write_rows(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self.write(work)

    async def _read(self, run: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(lambda: run(self._reader()))

    async def query_events(self, query: EventQuery) -> list[StoredEvent]:
        if index_key(query) is not None:
            unsettled = sqlite_readmodels.UNSETTLED
            return await self.read_models(lambda q, _: q.filtered_events(query, unsettled))
        return await self._read(lambda conn: sqlite_events.query_events(conn, query))

    async def get_event(self, workspace_id: int, event_id: str) -> StoredEvent | None:
        return await self._read(lambda conn: sqlite_events.get_event(conn, workspace_id, event_id))

    async def find_response(
        self, workspace_id: int, key: str, now_us: int
    ) -> StoredResponse | None:
        return await self._read(
            lambda conn: sqlite_idempotency.find_response(conn, workspace_id, key, now_us)
        )

    def find_duplicate_keys(self, workspace_id: int, keys: list[str]) -> dict[str, str]:
        """Duplicate keys (``duplicate_keys``) the workspace holds, each with its event's id."""
        return sqlite_events.find_keys(self._reader(), workspace_id, keys)

    async def find_key(self, key_hash: str) -> ApiKey | None:
        """The live (not revoked) key with this hash, read fresh so revocation is immediate."""
        return await self._read(lambda conn: _find_key(conn, key_hash))

    # -- read models -------------------------------------------------------------------------

    def project_next(self, limit: int, apply: Apply) -> int:
        return sqlite_readmodels.project_next(self._reader(), limit, apply)

    def reset_read_models(self) -> None:
        sqlite_readmodels.reset(self._reader())

    def projection_progress(self, now_us: int) -> ProjectionProgress:
        return sqlite_readmodels.progress(self._reader(), now_us)

    async def read_models(self, work: Callable[[ReadQueries, int], T]) -> T:
        return await self._read(lambda conn: sqlite_readmodels.read(conn, work))

    async def read_models_pair(
        self, first: Callable[[ReadQueries], A], second: Callable[[ReadQueries], B]
    ) -> tuple[int, A, B]:
        """Each work in a reader thread of its own, so both cores scan. Each connection reads
        its own snapshot: they agree when they saw the same checkpoint (only the projector
        writes the read models, and it moves the checkpoint in the same transaction). If the
        projector committed in between, they run again, then one after the other."""
        for _ in range(PAIR_TRIES):
            (at, a), (then, b) = await asyncio.gather(
                self.read_models(_at_as_of(first)), self.read_models(_at_as_of(second))
            )
            if at == then:
                return at, a, b
        return await self.read_models(lambda q, as_of: (as_of, first(q), second(q)))

    # -- spend, exchange rates, reporting currency -------------------------------------------

    async def put_spend(self, workspace_id: int, rows: Sequence[SpendRow], now_us: int) -> None:
        await self.write(
            lambda conn: spend_sql.put_spend(SqliteDb(conn), SQLITE, workspace_id, rows, now_us),
            rows=len(rows),
        )

    async def spend_between(self, workspace_id: int, start: int, end: int) -> list[SpendRow]:
        return await self._read(
            lambda conn: spend_sql.spend_between(SqliteDb(conn), SQLITE, workspace_id, start, end)
        )

    async def put_fx_rates(self, workspace_id: int, rates: Sequence[FxRate]) -> None:
        await self.write(
            lambda conn: spend_sql.put_rates(SqliteDb(conn), SQLITE, workspace_id, rates),
            rows=len(rates),
        )

    async def reporting_currency(self, workspace_id: int) -> str:
        return await self._read(
            lambda conn: spend_sql.currency_of(SqliteDb(conn), SQLITE, workspace_id)
        )

    def set_reporting_currency(self, workspace: Workspace, currency: str) -> None:
        self.write_sync(
            lambda conn: spend_sql.set_currency(SqliteDb(conn), SQLITE, workspace.id, currency)
        )

    # -- imports -----------------------------------------------------------------------------

    async def create_import(self, record: ImportRecord) -> None:
        await self.write(lambda conn: sqlite_imports.insert(conn, record))

    async def get_import(self, workspace_id: int, import_id: str) -> ImportRecord | None:
        return await self._read(lambda conn: sqlite_imports.get(conn, workspace_id, import_id))

    async def list_imports(
        self, workspace_id: int, limit: int, before: tuple[int, str] | None = None
    ) -> list[ImportRecord]:
        return await self._read(
            lambda conn: sqlite_imports.recent(conn, workspace_id, limit, before)
        )

    async def find_same_file(self, workspace_id: int, sha256: str) -> ImportRecord | None:
        return await self._read(lambda conn: sqlite_imports.same_file(conn, workspace_id, sha256))

    async def keep_import_file(self, import_id: str, path: Path) -> None:
        """Nothing to copy: every process of the one machine sees the imports directory."""

    def restore_import_file(self, import_id: str, path: Path) -> bool:
        return path.exists()  # nowhere else to fetch it from

    def forget_import_file(self, import_id: str) -> None:
        """Nothing was kept beyond the job's own files, which the job removes."""

    def load_import(self, import_id: str) -> ImportRecord | None:
        return sqlite_imports.get_by_id(self._reader(), import_id)

    def has_claimable_import(self, stale_before_us: int) -> bool:
        return sqlite_imports.claimable(self._reader(), stale_before_us)

    def claim_import(self, now_us: int, stale_before_us: int) -> ImportRecord | None:
        return self.write_sync(lambda conn: sqlite_imports.claim(conn, now_us, stale_before_us))

    def update_import(self, import_id: str, update: ImportUpdate) -> None:
        self.write_sync(lambda conn: sqlite_imports.update(conn, import_id, update.changes()))

    def submit_import_slice(
        self,
        record: ImportRecord,
        events: Sequence[ValidEvent],
        ids: Sequence[str],
        received_us: int,
        insert_id_retention_us: int,
        resume: Resume,
    ) -> Future[tuple[int, int]]:
        """Queue one slice of an import (prepared here, in the caller's thread) and return at
        once: the job prepares its next slice while this one commits."""
        rows = sqlite_events.prepare(
            record.workspace_id, events, ids, received_us, received_us + insert_id_retention_us
        )
        return self._writer.submit(
            lambda conn: sqlite_imports.store_batch(conn, record, rows, received_us, resume),
            rows=len(events),
            durable=False,  # the resume point commits with the slice; completion is durable
        )

    # -- workspaces and keys ---------------------------------------------------------------

    def create_workspace(self, name: str) -> tuple[Workspace, IssuedKey]:
        """A new workspace with its first read-write key."""

        def run(conn: sqlite3.Connection) -> tuple[Workspace, IssuedKey]:
            ws = Workspace(0, keygen.new_public_id("ws_"), name, _now_us())
            cursor = conn.execute(
                "INSERT INTO workspaces (public_id, name, created_us) VALUES (?, ?, ?)",
                (ws.public_id, ws.name, ws.created_us),
            )
            ws = Workspace(int(cursor.lastrowid or 0), ws.public_id, name, ws.created_us)
            return ws, _insert_key(conn, ws.id, ws.public_id, KeyKind.READ_WRITE)

        return self.write_sync(run)

    def find_workspace(self, public_id: str) -> Workspace | None:
        row = (
            self._reader()
            .execute(
                "SELECT id, public_id, name, created_us FROM workspaces WHERE public_id = ?",
                (public_id,),
            )
            .fetchone()
        )
        return Workspace(*row) if row else None

    def set_workspace_limit(self, workspace: Workspace, requests_per_minute: int | None) -> None:
        """Give a workspace its own ingest limit (None: back to the default)."""
        self.write_sync(
            lambda conn: conn.execute(
                "UPDATE workspaces SET requests_per_minute = ? WHERE id = ?",
                (requests_per_minute, workspace.id),
            )
        )

    def count_workspaces(self) -> int:
        return int(self._reader().execute("SELECT count(*) FROM workspaces").fetchone()[0])

    def create_key(self, workspace: Workspace, kind: KeyKind) -> IssuedKey:
        return self.write_sync(
            lambda conn: _insert_key(conn, workspace.id, workspace.public_id, kind)
        )

    def list_keys(self, workspace: Workspace) -> list[ApiKey]:
        rows = self._reader().execute(
            f"SELECT {_KEY_COLUMNS} WHERE k.workspace_id = ? ORDER BY k.created_us", (workspace.id,)
        )
        return [_key(row) for row in rows]

    def revoke_key(self, key_id: str) -> ApiKey | None:
        """Revoke a live key; None when there is no such live key."""

        def run(conn: sqlite3.Connection) -> ApiKey | None:
            key = _live_key(conn, key_id)
            if key is not None:
                conn.execute(
                    "UPDATE api_keys SET revoked_us = ? WHERE key_id = ?", (_now_us(), key_id)
                )
            return key

        return self.write_sync(run)

    def rotate_key(self, key_id: str) -> IssuedKey | None:
        """Replace a live key by a new one of the same kind; the old one stops working at once."""

        def run(conn: sqlite3.Connection) -> IssuedKey | None:
            key = _live_key(conn, key_id)
            if key is None:
                return None
            conn.execute("UPDATE api_keys SET revoked_us = ? WHERE key_id = ?", (_now_us(), key_id))
            return _insert_key(conn, key.workspace_id, key.workspace_public_id, key.kind)

        return self.write_sync(run)


def _find_key(conn: sqlite3.Connection, key_hash: str) -> ApiKey | None:
    row = conn.execute(
        f"SELECT {_KEY_COLUMNS} WHERE k.key_hash = ? AND k.revoked_us IS NULL", (key_hash,)
    ).fetchone()
    return _key(row) if row else None


def _live_key(conn: sqlite3.Connection, key_id: str) -> ApiKey | None:
    row = conn.execute(
        f"SELECT {_KEY_COLUMNS} WHERE k.key_id = ? AND k.revoked_us IS NULL", (key_id,)
    ).fetchone()
    return _key(row) if row else None


def _insert_key(
    conn: sqlite3.Connection, workspace_id: int, workspace_public_id: str, kind: KeyKind
) -> IssuedKey:
    issued, key_hash = keygen.issue(workspace_id, workspace_public_id, kind)
    key = issued.key
    conn.execute(
        "INSERT INTO api_keys (key_id, workspace_id, key_hash, kind, created_us)"
        " VALUES (?, ?, ?, ?, ?)",
        (key.key_id, workspace_id, key_hash, kind.value, key.created_us),
    )
    return issued


def _at_as_of(work: Callable[[ReadQueries], T]) -> Callable[[ReadQueries, int], tuple[int, T]]:
    """``work`` answering with the ``as_of`` it read at."""
    return lambda q, as_of: (as_of, work(q))
