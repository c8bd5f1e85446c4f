"""One import job: validate every row into staging files, then store them in timestamp order.

Validate phase (``validation.py``): rows are checked by the API's validator, in two shares
for large files, each writing its valid events to a file sorted by (timestamp, row) (``runs.py``;
rebuilt from the upload if the process dies in this phase). Store phase: the shares are merged
as they are read and each slice is committed together with the job's resume point, so a restart
continues exactly where the last commit ended: nothing lost, nothing stored twice.

A node that claims a job in the store phase without its sorted files (another node validated
it) fetches the upload from the store and validates it again. Validation is deterministic for
that: the shares depend only on the file and the settings, the time bound is the import's
creation, so the sorted files come out the same and the committed resume point still applies.
"""

from __future__ import annotations

import collections
import ctypes
import functools
import itertools
import json
import logging
import multiprocessing
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import (
    ALL_COMPLETED,
    Executor,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flokit import signals
from flokit.errors import Unavailable
from flokit.imports.runs import Staged, merged
from flokit.imports.upload import inspect
from flokit.imports.validation import (
    Merged,
    ShareResult,
    ShareTask,
    Stopped,
    merge,
    split_rows,
    start_worker,
    validate_share,
)
from flokit.model import ImportPhase, ImportRecord, ImportStatus, ValidEvent
from flokit.pipeline.duplicates import duplicate_keys, originals
from flokit.pipeline.ids import IdGenerator
from flokit.settings import Settings
from flokit.store.contract import ImportGap, ImportStore, ImportUpdate, Pending
from flokit.store.diskfull import out_of_space, sqlite_disk_full

log = logging.getLogger("flokit.imports")
#: Rows per store-phase commit. Slices are queued ahead (``IN_FLIGHT``), so the writer never
#: waits for this thread. Bigger commits write each touched duplicate-key page less often
#: (writer alone, 1M rows: 8k 10.2 s, 16k 8.8 s) but hold more rows in memory and keep live
#: requests waiting longer; in the server the gain mostly vanished (3M-row import, store
#: phase 52.5 s at 8k, 52 s at 16k) while the high-water mark rose from 263 MB to 291 MB.
COMMIT_ROWS = 8_000
IN_FLIGHT = 2  # slices queued at the store's writer at once (one commits, one waits)
PROGRESS_S = 0.5  # how often a running job reports progress (and proves it is alive)
START = -(2**63)  # "no timestamp reached yet"
#: How long a job whose validation process died waits for the server to say it is shutting
#: down (its jobs hear of it once it has stopped serving): a process that died while the server
#: stops (killed on its own, say) is no failure of the file.
STOP_NOTICE_S = 5.0

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class ImportPaths:
    """Where an import's files live: beside the database, one folder for all imports."""

    root: Path

    def upload(self, import_id: str) -> Path:
        return self.root / f"{import_id}.csv"

    def working_files(self, import_id: str) -> list[Path]:
        """Every file of the import but its errors file (served after the job ended)."""
        errors = self.errors(import_id)
        return [path for path in self.root.glob(f"{import_id}.*") if path != errors]

    def shares(self, import_id: str) -> Path:
        """How the staged rows are split: each share's first file row less one (JSON)."""
        return self.root / f"{import_id}.shares.json"

    def errors(self, import_id: str) -> Path:
        return self.root / f"{import_id}.errors.csv"

    def part(self, import_id: str, kind: str, share: int) -> Path:
        """One share's sorted, scratch or errors file, or a dry run's working file."""
        return self.root / f"{import_id}.{kind}.{share}"


class ImportJob:
    """Runs one claimed import to ``completed`` or ``failed``."""

    def __init__(
        self,
        record: ImportRecord,
        store: ImportStore,
        settings: Settings,
        ids: IdGenerator,
        paths: ImportPaths,
        clock: Clock,
        stop: threading.Event | None = None,
    ) -> None:
        """``stop``: set when the server shuts down; the job then stops at its next slice."""
        self.record, self.store, self.settings, self.ids = record, store, settings, ids
        self.paths, self.clock = paths, clock
        self.stop = stop or threading.Event()
        self.retention_us = settings.insert_id_retention_days * 86_400 * 1_000_000

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def run(self) -> None:
        record = self.record
        try:
            if record.phase is ImportPhase.VALIDATE or not self._staged_here():
                self._validate()
            if record.dry_run:
                self._count_duplicates()
            else:
                self._store()
            self._update(
                status=ImportStatus.COMPLETED, phase=ImportPhase.DONE, finished_us=self.now_us()
            )
        except (ImportGap, Unavailable) as exc:
            # Another process took the job over, or the store is away for now (a full disk
            # too): the job is not this process's to end. It resumes (here or elsewhere) once
            # its heartbeat is stale.
            log.warning("import %s: stopped, left to resume: %s", record.id, exc)
            return
        except Exception as exc:  # a job must end failed with its reason, never stay running
            if isinstance(exc, Stopped) or self._cut_by_shutdown(exc):
                self._release(f"{type(exc).__name__}: {exc}")
                return
            if out_of_space(exc) or sqlite_disk_full(exc):  # its working files filled the disk
                log.warning("import %s: stopped, left to resume: %s", record.id, exc)
                return
            log.exception("import %s failed", record.id)
            self._update(
                status=ImportStatus.FAILED,
                failure=f"{type(exc).__name__}: {exc}",
                finished_us=self.now_us(),
            )
        self._clean_up()  # only once the end is recorded: until then, the job may resume

    def _cut_by_shutdown(self, exc: Exception) -> bool:
        """Whether the server's shutdown, not the file, ended the job with ``exc``."""
        if isinstance(exc, BrokenProcessPool):
            return self.stop.wait(STOP_NOTICE_S)
        return self.stop.is_set()

    def _release(self, reason: str) -> None:
        """The server is shutting down: hand the job back to the queue, so the next start (or
        another node, at once) resumes it from its last commit, as ``run`` does."""
        log.info("import %s: left to resume (%s)", self.record.id, reason)
        try:
            self._update(status=ImportStatus.QUEUED)
        except Exception as exc:  # the store is closing or away: it resumes once stale
            log.warning("import %s: not handed back (%s), resumes once stale", self.record.id, exc)

    def _update(self, **changes: Any) -> None:
        update = ImportUpdate(heartbeat_us=self.now_us(), **changes)
        self.store.update_import(self.record.id, update)

    def _clean_up(self) -> None:
        """Remove the job's files here, and what the store kept of its upload elsewhere. A
        store that cannot forget it now leaves it behind: the job's outcome is recorded."""
        for path in self.paths.working_files(self.record.id):
            path.unlink(missing_ok=True)
        try:
            self.store.forget_import_file(self.record.id)
        except Exception:
            log.exception("import %s: its upload could not be forgotten", self.record.id)

    def _staged_here(self) -> bool:
        """Whether this machine holds the validate phase's sorted files (a node that claims
        a job another node validated does not)."""
        shares = self.paths.shares(self.record.id)
        if not shares.exists():
            return False
        count = len(json.loads(shares.read_text())["offsets"])
        return all(self.paths.part(self.record.id, "sorted", i).exists() for i in range(count))

    # -- validate phase ----------------------------------------------------------------------

    def _validate(self) -> None:
        """Check and sort every row; on a job already in the store phase (validated by another
        node), only rebuild the sorted files: what the first validation recorded stays, and
        so do the counts and resume point the store phase has committed since."""
        record, paths = self.record, self.paths
        upload = self._upload_here()
        layout = inspect(upload)
        tasks = self._share_tasks(upload)
        started = time.monotonic()
        results = self._validate_shares(tasks)
        merged = merge(tasks, results, paths.errors(record.id), layout.header)
        _write_durably(paths.shares(record.id), json.dumps({"offsets": merged.offsets}))
        log.info(
            "import %s: %d rows checked and sorted in %.1f s (%d shares)",
            record.id,
            merged.rows,
            time.monotonic() - started,
            len(tasks),
        )
        if record.phase is not ImportPhase.VALIDATE:
            _check_same_outcome(record, merged)
            return
        self._update(
            rows_total=merged.rows,
            rows_processed=merged.rows,
            rejected=merged.rejected,
            errors=merged.first_errors,
            phase=ImportPhase.STORE,
            accepted=merged.valid if record.dry_run else 0,
        )

    def _upload_here(self) -> Path:
        """The upload, on this machine: fetched from the store if another node received it."""
        record, upload = self.record, self.paths.upload(self.record.id)
        if not self.store.restore_import_file(record.id, upload):
            raise FileNotFoundError(f"the upload of import {record.id} is nowhere to be found")
        if (size := upload.stat().st_size) != record.file_bytes:
            raise ValueError(f"the upload is {size} bytes, not the {record.file_bytes} received")
        return upload

    def _share_tasks(self, upload: Path) -> list[ShareTask]:
        """The shares: how many depends on the file's size and the settings alone, and rows
        are checked against the import's creation time, never this node's clock or cores, so
        any node validating the file again sorts it the same (rows are placed by share)."""
        record, paths = self.record, self.paths
        shares = 2 if record.file_bytes >= self.settings.import_parallel_min_bytes else 1
        return [
            ShareTask(
                upload,
                paths.part(record.id, "sorted", i),
                paths.part(record.id, "errors", i),
                paths.part(record.id, "runs", i),
                i,
                start,
                end,
                self.settings,
                record.created_us,
            )
            for i, (start, end) in enumerate(split_rows(upload, shares))
        ]

    def _validate_shares(self, tasks: list[ShareTask]) -> list[ShareResult]:
        """Run the shares, in their own processes (as many as there are cores, up to one per
        share) or one after another in a thread, reporting the rows read so far meanwhile and
        passing the server's ``stop`` on (the shares raise ``Stopped`` at their next check)."""
        pool: Executor
        workers = min(len(tasks), os.cpu_count() or 1)
        if workers > 1:
            context = multiprocessing.get_context("spawn")  # never fork a threaded server
            progress: Any = context.Array("q", len(tasks), lock=False)
            stop: Any = context.Value(ctypes.c_bool, False, lock=False)
            pool = ProcessPoolExecutor(
                workers, mp_context=context, initializer=start_worker, initargs=(progress, stop)
            )
            run: Callable[[ShareTask], ShareResult] = validate_share
        else:
            progress, stop = [0] * len(tasks), ctypes.c_bool(False)
            pool = ThreadPoolExecutor(1, thread_name_prefix="flokit-import-validate")
            run = functools.partial(validate_share, progress=progress, stop=stop)
        with pool:
            # The processes start on these submits, born with the signals held. (The pool's
            # resource tracker, whose start unblocks them again, started with the pool.)
            with signals.held():
                futures = [pool.submit(run, task) for task in tasks]
            while wait(futures, timeout=PROGRESS_S, return_when=ALL_COMPLETED).not_done:
                if self.stop.is_set() and not stop.value:
                    stop.value = True
                    log.info("import %s: validation stops at its next check", self.record.id)
                self._report_progress(sum(progress))
            return [future.result() for future in futures]

    def _report_progress(self, rows: int) -> None:
        """Rows read so far, and proof of life. Validating again (store phase) changes nothing
        the record shows: its rows were all processed the first time."""
        if self.record.phase is ImportPhase.VALIDATE:
            self._update(rows_processed=rows)
        else:
            self._update()

    # -- store phase -------------------------------------------------------------------------

    def _store(self) -> None:
        """Commit the staged rows in (timestamp, row) order, from the last resume point on.
        Up to ``IN_FLIGHT`` slices wait at the store's writer while the next one is read, so
        the writer never waits for this thread; each slice moves the resume point on from
        where the previous one left it, so slices commit in order or not at all."""
        record = self.store.load_import(self.record.id) or self.record
        queued: collections.deque[Pending[tuple[int, int]]] = collections.deque()
        cut = False
        for events, resume in self._slices(record):
            if cut := self.stop.is_set():
                break
            now_us = self.now_us()
            ids = self.ids.batch(len(events), now_us // 1000)
            queued.append(
                self.store.submit_import_slice(
                    record, events, ids, now_us, self.retention_us, resume
                )
            )
            del events, ids  # the store holds the prepared slice now
            if len(queued) >= IN_FLIGHT:
                queued.popleft().result()
        for waiting in queued:
            waiting.result()
        if cut:  # after the slices queued have committed: the resume point is theirs
            raise Stopped("the server is shutting down")

    def _count_duplicates(self) -> None:
        """A dry run's duplicates: the rows a real import would find repeating an event the
        workspace holds or an earlier row of the file. The file's keys are remembered in a
        scratch file, so memory stays that of one slice."""
        record, workspace_id = self.record, self.record.workspace_id
        with _SeenKeys(self.paths.part(record.id, "keys", 0)) as in_file:
            duplicates = 0
            for events, _ in self._slices(record):
                if self.stop.is_set():  # a dry run counts from the start again: nothing to keep
                    raise Stopped("the server is shutting down")
                keys = [duplicate_keys(event) for event in events]
                wanted = sorted({key for pair in keys for key in pair if key is not None})
                seen = {key: "file" for key in in_file.known(wanted)}
                seen.update(self.store.find_duplicate_keys(workspace_id, wanted) if wanted else {})
                found = originals([_NEW] * len(events), keys, seen)
                duplicates += len(found) - found.count(None)
                in_file.add([key for key, origin in seen.items() if origin is _NEW])
        self._update(duplicates=duplicates)

    def _slices(
        self, record: ImportRecord
    ) -> Iterator[tuple[list[ValidEvent], tuple[tuple[int, int], tuple[int, int]]]]:
        """The staged events in (timestamp, row) order from the record's resume point, slice
        by slice, each with the resume points before and after it."""
        offsets: list[int] = json.loads(self.paths.shares(record.id).read_text())["offsets"]
        files = [self.paths.part(record.id, "sorted", i) for i in range(len(offsets))]
        rows = merged(files, (record.stored_ts, record.stored_row))
        last = [record.stored_ts, record.stored_row]
        while True:
            resume_from = (last[0], last[1])
            if not (events := _next_slice(rows, last)):
                return
            yield events, (resume_from, (last[0], last[1]))


_NEW = "new"  # an event first seen in this slice (a truthy stand-in for its id)


class _SeenKeys:
    """The duplicate keys of the rows checked so far, in a scratch SQLite file."""

    def __init__(self, path: Path) -> None:
        self.conn = open_scratch(path, "CREATE TABLE seen (key TEXT PRIMARY KEY) WITHOUT ROWID")

    def __enter__(self) -> _SeenKeys:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    def known(self, keys: list[str]) -> list[str]:
        if not keys:
            return []
        query = "SELECT key FROM seen WHERE key IN (SELECT value FROM json_each(?))"
        return [key for (key,) in self.conn.execute(query, (json.dumps(keys),))]

    def add(self, keys: list[str]) -> None:
        self.conn.executemany("INSERT INTO seen VALUES (?)", ((key,) for key in keys))


def _check_same_outcome(record: ImportRecord, merged: Merged) -> None:
    """A validation again must find what the first one recorded, or the resume point would
    point into other sorted files: nodes with other validation settings cannot resume it."""
    found, recorded = (merged.rows, merged.rejected), (record.rows_total, record.rejected)
    if found != recorded:
        raise RuntimeError(
            f"validating again found (rows, rejected) = {found}, not {recorded} as the first"
            " time: do the nodes run with the same validation settings?"
        )


def _next_slice(rows: Iterator[Staged], last: list[int]) -> list[ValidEvent]:
    """Up to COMMIT_ROWS events; ``last`` is left at the (timestamp, place) of the last."""
    staged = list(itertools.islice(rows, COMMIT_ROWS))
    if staged:
        last[0], last[1] = staged[-1][0], staged[-1][1]
    return [event for _, _, event in staged]


def open_scratch(path: Path, schema: str) -> sqlite3.Connection:
    """A working SQLite file of an import, made afresh and rebuilt if lost, so no journal
    and no fsync per write."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute(schema)
    return conn


def _write_durably(path: Path, text: str) -> None:
    with path.open("w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
