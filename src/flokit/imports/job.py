"""One import job: validate every row into a staging file, then store it in timestamp order.

Validate phase: rows are read as they stream from disk, checked by the API's validator, and the
valid ones kept in a staging SQLite file (``synchronous=OFF``: it is rebuilt if the process dies
in this phase). Store phase: the staged rows come back sorted by (timestamp, row) through an
index, and each slice is committed together with the job's resume point, so a restart continues
exactly where the last commit ended: nothing lost, nothing stored twice.
"""

from __future__ import annotations

import csv
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import msgspec

from flokit.imports.csvfile import Layout, RowProblem, row_document
from flokit.imports.upload import inspect
from flokit.model import ImportRecord, Rejection, ValidEvent
from flokit.pipeline.ids import IdGenerator
from flokit.pipeline.validate import Validator
from flokit.store import Store

log = logging.getLogger("flokit.imports")
STAGE_ROWS = 5000  # rows per staging insert and per store-phase commit
PROGRESS_EVERY = 20_000
FIRST_ERRORS = 100
START = -(2**63)  # resume point before every row
csv.field_size_limit(16 * 1024 * 1024)  # a larger cell makes its row an error, not a crash

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class ImportPaths:
    """Where an import's files live: beside the database, one folder for all imports."""

    root: Path

    def upload(self, import_id: str) -> Path:
        return self.root / f"{import_id}.csv"

    def stage(self, import_id: str) -> Path:
        return self.root / f"{import_id}.stage.db"

    def errors(self, import_id: str) -> Path:
        return self.root / f"{import_id}.errors.csv"


def _pack(event: ValidEvent) -> bytes:
    return msgspec.msgpack.encode(
        (
            event.event,
            event.user_id,
            event.anonymous_id,
            event.timestamp_us,
            event.properties,
            event.insert_id,
            event.transaction_id,
        )
    )


def _unpack(payload: bytes) -> ValidEvent:
    return ValidEvent(*msgspec.msgpack.decode(payload))


class ImportJob:
    """Runs one claimed import to ``completed`` or ``failed``."""

    def __init__(
        self,
        record: ImportRecord,
        store: Store,
        validator: Validator,
        ids: IdGenerator,
        paths: ImportPaths,
        insert_id_retention_us: int,
        clock: Clock,
    ) -> None:
        self.record, self.store, self.validator, self.ids = record, store, validator, ids
        self.paths, self.retention_us, self.clock = paths, insert_id_retention_us, clock

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def run(self) -> None:
        record = self.record
        try:
            if record.phase == "validate":
                self._validate()
            if not record.dry_run:
                self._store()
            self._update(status="completed", phase="done", finished_us=self.now_us())
            self._clean_up()
        except Exception as exc:  # a job must end failed with its reason, never stay running
            log.exception("import %s failed", record.id)
            self._update(
                status="failed", failure=f"{type(exc).__name__}: {exc}", finished_us=self.now_us()
            )

    def _update(self, **changes: Any) -> None:
        self.store.update_import(self.record.id, heartbeat_us=self.now_us(), **changes)

    def _clean_up(self) -> None:
        self.paths.upload(self.record.id).unlink(missing_ok=True)
        self.paths.stage(self.record.id).unlink(missing_ok=True)

    # -- validate phase ----------------------------------------------------------------------

    def _validate(self) -> None:
        record, paths = self.record, self.paths
        layout = inspect(paths.upload(record.id))
        stage = _open_stage(paths.stage(record.id), fresh=True)
        counts = {"rows": 0, "valid": 0, "rejected": 0}
        first: list[dict[str, object]] = []
        with (
            paths.upload(record.id).open(
                encoding="utf-8", errors="surrogateescape", newline=""
            ) as source,
            paths.errors(record.id).open(
                "w", encoding="utf-8", errors="surrogateescape", newline=""
            ) as errors_file,
        ):
            errors = csv.writer(errors_file)
            errors.writerow([*layout.header, "row", "reason"])
            pending: list[tuple[int, int, bytes]] = []
            for number, cells, outcome in self._checked_rows(source, layout):
                counts["rows"] = number
                if isinstance(outcome, Rejection):
                    counts["rejected"] += 1
                    errors.writerow([*cells, number, outcome.reason])
                    if len(first) < FIRST_ERRORS:
                        first.append(
                            {"row": number, "event": outcome.event, "reason": outcome.reason}
                        )
                else:
                    counts["valid"] += 1
                    pending.append((outcome.timestamp_us, number, _pack(outcome)))
                if len(pending) >= STAGE_ROWS:
                    _stage(stage, pending)
                if number % PROGRESS_EVERY == 0:
                    self._update(rows_processed=number, rejected=counts["rejected"], errors=first)
            _stage(stage, pending)
            errors_file.flush()
            os.fsync(errors_file.fileno())
        stage.execute("CREATE INDEX rows_order ON rows(ts, row)")  # the sort, done once
        stage.close()
        _fsync(paths.stage(record.id))
        self._update(
            rows_total=counts["rows"],
            rows_processed=counts["rows"],
            rejected=counts["rejected"],
            errors=first,
            phase="store",
            accepted=counts["valid"] if record.dry_run else 0,
        )

    def _checked_rows(
        self, source: TextIO, layout: Layout
    ) -> Iterator[tuple[int, list[str], ValidEvent | Rejection]]:
        """Each data row (1-based) with its outcome; a row the CSV reader chokes on is an error."""
        reader = csv.reader(source)
        next(reader, None)  # the header, checked at upload
        now_us = self.now_us()
        number = 0
        while True:
            number += 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield (
                    number,
                    [],
                    Rejection(number, None, f"Row is not valid CSV ({exc})", "invalid_row", None),
                )
                continue
            doc = row_document(layout, cells)
            if isinstance(doc, RowProblem):
                yield (
                    number,
                    cells,
                    Rejection(number, layout.event_name(cells), doc.reason, doc.code, doc.field),
                )
            else:
                yield number, cells, self.validator.check_document(doc, number, now_us)

    # -- store phase -------------------------------------------------------------------------

    def _store(self) -> None:
        record = self.store.get_import(self.record.workspace_id, self.record.id) or self.record
        stage = _open_stage(self.paths.stage(record.id), fresh=False)
        try:
            rows = stage.execute(
                "SELECT ts, row, payload FROM rows WHERE (ts, row) > (?, ?) ORDER BY ts, row",
                (record.stored_ts, record.stored_row),
            )
            while batch := rows.fetchmany(STAGE_ROWS):
                events = [_unpack(payload) for _, _, payload in batch]
                now_us = self.now_us()
                ids = self.ids.batch(len(events), now_us // 1000)
                resume_at = (batch[-1][0], batch[-1][1])
                self.store.store_import_batch(
                    record, events, ids, now_us, self.retention_us, resume_at
                )
        finally:
            stage.close()


def _open_stage(path: Path, fresh: bool) -> sqlite3.Connection:
    if fresh:
        path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -32768")
    if fresh:
        conn.execute("CREATE TABLE rows (ts INTEGER NOT NULL, row INTEGER NOT NULL, payload BLOB)")
    return conn


def _stage(conn: sqlite3.Connection, pending: list[tuple[int, int, bytes]]) -> None:
    if pending:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO rows VALUES (?, ?, ?)", pending)
        conn.execute("COMMIT")
        pending.clear()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
